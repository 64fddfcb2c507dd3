package cloudevents

import (
	"strings"
	"unicode/utf8"
)

// decodeConnect decodes the common shape of a connect body (claims, query
// and headers as string → string[] maps, subprotocols, an empty
// clientCertificates) without reflection; connect is the busiest system
// event. It reports false for anything else (escapes, certificates, MQTT,
// unknown or repeated keys, errors) and the caller falls back to
// encoding/json, so the result is always what encoding/json would produce
// (FuzzDecodeConnect checks that). The decoded strings are substrings of s;
// the string arrays are carved out of arena while it has room
// (capped, so appending to one never overwrites another).
func decodeConnect(s string, req *ConnectRequest, arena []string) bool {
	p := scanner{b: s, arena: arena}
	if !p.consume('{') {
		return false
	}
	var seen [5]bool
	if p.consume('}') {
		return p.end()
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return false
		}
		var field int
		switch key {
		case "claims":
			field = 0
			req.Claims, ok = p.strArrayMap()
		case "query":
			field = 1
			req.Query, ok = p.strArrayMap()
		case "headers":
			field = 2
			req.Headers, ok = p.strArrayMap()
		case "subprotocols":
			field = 3
			req.Subprotocols, ok = p.strArray()
		case "clientCertificates":
			field = 4
			switch {
			case p.literal("null"):
				req.ClientCertificates = nil
			case p.consume('[') && p.consume(']'):
				req.ClientCertificates = []ClientCertificate{}
			default:
				return false
			}
		default:
			return false
		}
		if !ok {
			return false
		}
		if seen[field] {
			return false
		}
		seen[field] = true
		switch p.next() {
		case ',':
		case '}':
			return p.end()
		default:
			return false
		}
	}
}

// scanner is a minimal JSON reader over b for decodeConnect.
type scanner struct {
	b     string
	i     int
	arena []string // backs the decoded string arrays
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then c, reporting whether c was there.
func (p *scanner) consume(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// next skips whitespace and returns and consumes ',' or '}' (0 otherwise).
func (p *scanner) next() byte {
	p.ws()
	if p.i < len(p.b) && (p.b[p.i] == ',' || p.b[p.i] == '}') {
		p.i++
		return p.b[p.i-1]
	}
	return 0
}

func (p *scanner) literal(s string) bool {
	p.ws()
	if strings.HasPrefix(p.b[p.i:], s) {
		p.i += len(s)
		return true
	}
	return false
}

func (p *scanner) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (p *scanner) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(s) {
				return "", false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// strArray reads null or an array of strings.
func (p *scanner) strArray() ([]string, bool) {
	if p.literal("null") {
		return nil, true
	}
	if !p.consume('[') {
		return nil, false
	}
	if p.consume(']') {
		return []string{}, true
	}
	start := len(p.arena)
	for {
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		p.arena = append(p.arena, s)
		if p.consume(']') {
			end := len(p.arena)
			return p.arena[start:end:end], true
		}
		if !p.consume(',') {
			return nil, false
		}
	}
}

// strArrayMap reads null or an object of string arrays.
func (p *scanner) strArrayMap() (map[string][]string, bool) {
	if p.literal("null") {
		return nil, true
	}
	if !p.consume('{') {
		return nil, false
	}
	m := map[string][]string{}
	if p.consume('}') {
		return m, true
	}
	for {
		k, ok := p.str()
		if !ok || !p.consume(':') {
			return nil, false
		}
		v, ok := p.strArray()
		if !ok {
			return nil, false
		}
		m[k] = v
		if p.consume('}') {
			return m, true
		}
		if !p.consume(',') {
			return nil, false
		}
	}
}

// appendConnectResponse appends r's JSON, byte for byte what json.Marshal
// writes, when every string in it is plain printable ASCII without characters
// that encoding/json escapes; otherwise it reports false.
func appendConnectResponse(dst []byte, r *ConnectResponse) ([]byte, bool) {
	if r.MQTT != nil {
		return dst, false
	}
	dst = append(dst, '{')
	first := true
	field := func(name string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	ok := true
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				ok = false
			}
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	}
	list := func(ss []string) {
		dst = append(dst, '[')
		for i, s := range ss {
			if i > 0 {
				dst = append(dst, ',')
			}
			str(s)
		}
		dst = append(dst, ']')
	}
	if r.UserID != "" {
		field("userId")
		str(r.UserID)
	}
	if len(r.Groups) > 0 {
		field("groups")
		list(r.Groups)
	}
	if len(r.Roles) > 0 {
		field("roles")
		list(r.Roles)
	}
	if r.Subprotocol != "" {
		field("subprotocol")
		str(r.Subprotocol)
	}
	dst = append(dst, '}')
	return dst, ok
}
