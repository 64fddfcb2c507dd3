package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// pointer is a parsed JSON Pointer (RFC 6901): its reference tokens,
// unescaped. The empty pointer (no tokens) selects the whole document.
type pointer []string

func parsePointer(s string) (pointer, error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != '/' {
		return nil, errors.New(`it must be empty or start with "/"`)
	}
	toks := strings.Split(s[1:], "/")
	for i, t := range toks {
		// ~1 is "/" and ~0 is "~"; any other "~" is malformed.
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, errors.New(`"~" must be followed by 0 or 1`)
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// errNoValue is a pointer that selects nothing in the document.
var errNoValue = errors.New("selects nothing")

// maxPointerDepth bounds how deep a pointer walks (and so the work one
// message costs).
const maxPointerDepth = 32

// get returns the JSON value p selects in doc.
func (p pointer) get(doc []byte) (json.RawMessage, error) {
	if len(p) > maxPointerDepth {
		return nil, errors.New("is deeper than 32 levels")
	}
	cur := json.RawMessage(bytes.TrimSpace(doc))
	if !json.Valid(cur) {
		return nil, errors.New("applies to a body that is not JSON")
	}
	for _, tok := range p {
		switch {
		case len(cur) > 0 && cur[0] == '{':
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(cur, &obj); err != nil {
				return nil, err
			}
			v, ok := obj[tok]
			if !ok {
				return nil, errNoValue
			}
			cur = v
		case len(cur) > 0 && cur[0] == '[':
			var arr []json.RawMessage
			if err := json.Unmarshal(cur, &arr); err != nil {
				return nil, err
			}
			// Array indexes are decimal without leading zeros.
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(arr) || (len(tok) > 1 && tok[0] == '0') {
				return nil, errNoValue
			}
			cur = arr[i]
		default:
			return nil, errNoValue
		}
	}
	return cur, nil
}
