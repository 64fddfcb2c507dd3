package envelope

import (
	"encoding/json"
	"testing"
)

// TestQuotedLen: quotedLen measures every string as json.Marshal writes it,
// each byte alone and among others (escaped, HTML-escaped, multi-byte,
// invalid UTF-8, U+2028).
func TestQuotedLen(t *testing.T) {
	check := func(s string) {
		b, _ := json.Marshal(s)
		if n := quotedLen(s); n != len(b) {
			t.Errorf("quotedLen(%q) = %d, json.Marshal writes %d bytes", s, n, len(b))
		}
	}
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("orders-" + string([]byte{byte(c)}) + "-eu")
	}
	for _, s := range []string{"", "orders", "a\"b\\c", "<script>&amp;", "café", "line\u2028sep", "\xff\xfe", "tab\there"} {
		check(s)
	}
}
