package wps

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Content types of the three kinds of message the service forwards.
const (
	ContentTypeJSON   = "application/json"
	ContentTypeText   = "text/plain"
	ContentTypeBinary = "application/octet-stream"
)

// Message is a payload for the Send methods: its bytes are forwarded to the
// clients as they are, with the content type telling JSON, text and binary
// apart. Build one with JSON, Text or Binary. The zero Message is an empty
// binary message.
type Message struct {
	contentType string
	body        []byte
	err         error
}

// JSON returns a message holding v encoded as JSON (HTML characters are not
// escaped, as JavaScript's JSON.stringify does not; a json.RawMessage is sent
// compacted). An encoding error is reported by the Send call.
func JSON(v any) Message {
	if raw, ok := v.(json.RawMessage); ok && len(raw) > 0 {
		// What the encoder sends for a RawMessage (compacted, nothing
		// escaped), without its reflection and buffers; an invalid one
		// takes the encoder's way, for its error.
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return Message{contentType: ContentTypeJSON, body: b.Bytes()}
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Message{contentType: ContentTypeJSON, err: fmt.Errorf("wps: encoding JSON message: %w", err)}
	}
	return Message{contentType: ContentTypeJSON, body: bytes.TrimSuffix(b.Bytes(), []byte("\n"))}
}

// Text returns a text/plain message holding s.
func Text(s string) Message {
	return Message{contentType: ContentTypeText, body: []byte(s)}
}

// Binary returns an application/octet-stream message holding b. The message
// keeps b; do not change b until the Send call returns.
func Binary(b []byte) Message {
	return Message{contentType: ContentTypeBinary, body: b}
}

// ContentType returns the message's Content-Type.
func (m Message) ContentType() string {
	if m.contentType == "" {
		return ContentTypeBinary
	}
	return m.contentType
}

// Bytes returns the payload as sent. The caller must not modify it.
func (m Message) Bytes() []byte { return m.body }

// Err reports why the message could not be built (for JSON), or nil.
func (m Message) Err() error { return m.err }
