package wps

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONRawMessage: a json.RawMessage is sent as encoding/json's encoder
// (HTML escaping off) writes it: compacted, every character as written, an
// invalid one an error of the Send call, a nil one null.
func TestJSONRawMessage(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{`{"order":42,"status":"shipped"}`, `{"order":42,"status":"shipped"}`},
		{" { \"a\" : [1, 2] ,\n\t\"b\":\"<x> & \\u2028 y\" } ", `{"a":[1,2],"b":"<x> & \u2028 y"}`},
		{"[\"<\u2028\u2029>\", \"&amp;\"]", "[\"<\u2028\u2029>\",\"&amp;\"]"},
		{`  "s p"  `, `"s p"`},
		{`null`, `null`},
	} {
		m := JSON(json.RawMessage(c.raw))
		if m.Err() != nil || string(m.Bytes()) != c.want || m.ContentType() != ContentTypeJSON {
			t.Errorf("JSON(%q) = %q, %v; want %q", c.raw, m.Bytes(), m.Err(), c.want)
		}
	}
	if m := JSON(json.RawMessage(nil)); m.Err() != nil || string(m.Bytes()) != "null" {
		t.Errorf("JSON(nil RawMessage) = %q, %v; want null", m.Bytes(), m.Err())
	}
	for _, raw := range []string{`{"a":`, `{"a":1} x`, ``} {
		m := JSON(json.RawMessage(raw))
		if m.Err() == nil || !strings.HasPrefix(m.Err().Error(), "wps: encoding JSON message: json: error calling MarshalJSON for type json.RawMessage: ") {
			t.Errorf("JSON(%q) = %q, %v; want the encoder's error", raw, m.Bytes(), m.Err())
		}
	}
}
