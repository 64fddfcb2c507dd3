package cloudevents

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// State is a connection's state as carried by the ce-connectionState header:
// a JSON object, base64-encoded, the same encoding as @azure/web-pubsub-express
// so either library reads what the other wrote. The zero State is empty.
type State struct {
	m map[string]json.RawMessage
}

// ErrBadState reports a ce-connectionState value that is not base64 of a JSON object.
var ErrBadState = errors.New("cloudevents: ce-connectionState is not base64 of a JSON object")

// DecodeState parses a ce-connectionState value. The empty string is the
// empty state; anything that is not base64 (standard or URL alphabet, padded
// or not) of a JSON object is ErrBadState.
func DecodeState(raw string) (State, error) {
	if raw == "" {
		return State{}, nil
	}
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(raw); err == nil {
			break
		}
	}
	if err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return State{}, ErrBadState
	}
	return State{m: m}, nil
}

// Encode returns the ce-connectionState value for s: base64 of the JSON
// object (keys sorted). The empty state encodes as base64 of "{}".
func (s State) Encode() string {
	b, _ := json.Marshal(s.m) // RawMessage values are valid JSON by construction
	if s.m == nil {
		b = []byte("{}")
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Get decodes the value stored under key into v. It reports whether the key
// was present; a present value that does not fit v is an error.
func (s State) Get(key string, v any) (bool, error) {
	raw, ok := s.m[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("cloudevents: state %q: %w", key, err)
	}
	return true, nil
}

// Raw returns the JSON stored under key, or nil.
func (s State) Raw(key string) json.RawMessage { return s.m[key] }

// Keys returns the state's keys, sorted.
func (s State) Keys() []string { return slices.Sorted(maps.Keys(s.m)) }

// Len is the number of keys.
func (s State) Len() int { return len(s.m) }

// MarshalJSON writes the state as the JSON object it is.
func (s State) MarshalJSON() ([]byte, error) {
	if s.m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(s.m)
}

// stateEdits records what a response changes in the connection state. The
// zero value changes nothing.
type stateEdits struct {
	clear bool
	set   map[string]json.RawMessage // a nil value deletes the key
}

func (e *stateEdits) setState(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cloudevents: state %q: %w", key, err)
	}
	if e.set == nil {
		e.set = make(map[string]json.RawMessage)
	}
	e.set[key] = b
	return nil
}

func (e *stateEdits) deleteState(key string) {
	if e.set == nil {
		e.set = make(map[string]json.RawMessage)
	}
	e.set[key] = nil
}

func (e *stateEdits) clearStates() {
	e.clear = true
	e.set = nil
}

func (e *stateEdits) changed() bool { return e.clear || len(e.set) > 0 }

// apply returns the whole state after the edits: prev, emptied if cleared,
// with the keys set or deleted.
func (e *stateEdits) apply(prev State) State {
	m := make(map[string]json.RawMessage, len(prev.m)+len(e.set))
	if !e.clear {
		maps.Copy(m, prev.m)
	}
	for k, v := range e.set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return State{m: m}
}

// NewState builds a State from Go values (each marshalled to JSON), for the
// service side and for tests.
func NewState(values map[string]any) (State, error) {
	m := make(map[string]json.RawMessage, len(values))
	for k, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			return State{}, fmt.Errorf("cloudevents: state %q: %w", k, err)
		}
		m[k] = b
	}
	return State{m: m}, nil
}
