// Package azurefn holds the wire types of an Azure Functions custom handler:
// the invocation payload the Functions host POSTs to /<FunctionName> for a
// trigger that is not forwarded HTTP, its bindings (timer, HTTP trigger) and
// the answer. pkg/faas serves functions with them; a function reads the
// invocation it runs for with FromContext.
//
// Decoding is lenient where the host is: the payload, Data, Metadata and each
// binding value may be an object or a JSON string holding one.
package azurefn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Invocation is the invocation payload.
type Invocation struct {
	// Data holds each trigger/input binding's value by binding name. The host
	// sends objects, or JSON strings when it could not build an object.
	Data map[string]json.RawMessage `json:"Data"`
	// Metadata holds trigger metadata and "sys" (MethodName, UtcNow, RandGuid).
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// Response is the answer to an invocation payload. The host fails the
// invocation on a non-2xx status and shows Logs in the invocation's log.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Decode reads an invocation payload. A missing Data or Metadata is empty.
// Its errors say what was wrong, never what the payload held.
func Decode(raw []byte) (*Invocation, error) {
	var top map[string]json.RawMessage
	if err := unmarshalLenient(raw, &top); err != nil {
		return nil, fmt.Errorf("invocation payload is not a JSON object with Data and Metadata: %w", err)
	}
	inv := &Invocation{Data: map[string]json.RawMessage{}, Metadata: map[string]json.RawMessage{}}
	for k, v := range top {
		var dst *map[string]json.RawMessage
		switch {
		case strings.EqualFold(k, "Data"):
			dst = &inv.Data
		case strings.EqualFold(k, "Metadata"):
			dst = &inv.Metadata
		default:
			continue
		}
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		if err := unmarshalLenient(v, dst); err != nil {
			return nil, fmt.Errorf("%s is neither an object nor a JSON string holding one: %w", k, err)
		}
	}
	return inv, nil
}

// Binding decodes the binding value named name into v, accepting an object
// or a JSON string holding one. It reports false when there is no such
// binding or it does not decode.
func (inv *Invocation) Binding(name string, v any) bool {
	raw, ok := inv.Data[name]
	return ok && unmarshalLenient(raw, v) == nil
}

// Time is when the host says the invocation happened: Metadata.sys.UtcNow,
// then the "UtcNow" or "Timestamp" metadata (older hosts), in any form
// ParseTime reads. It reports false when none is there.
func (inv *Invocation) Time() (time.Time, bool) {
	sys := map[string]json.RawMessage{}
	if s, ok := inv.Metadata["sys"]; ok {
		_ = unmarshalLenient(s, &sys) // a sys that is not an object has no time
	}
	for _, cand := range []json.RawMessage{sys["UtcNow"], inv.Metadata["UtcNow"], inv.Metadata["Timestamp"]} {
		var s string
		if cand == nil || json.Unmarshal(cand, &s) != nil {
			continue
		}
		if t, err := ParseTime(s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// unmarshalLenient decodes raw into v, accepting a JSON string that itself
// holds the JSON (the host's fallback for values it cannot make objects of).
func unmarshalLenient(raw []byte, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		raw = []byte(s)
	}
	if bytes.Equal(raw, []byte("null")) || len(raw) == 0 {
		return errors.New("null")
	}
	if raw[0] != '{' {
		return errors.New("not an object")
	}
	return json.Unmarshal(raw, v)
}
