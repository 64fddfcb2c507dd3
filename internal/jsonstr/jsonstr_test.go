package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"empty", "", `""`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"other control", "\x00\x1f", `"\u0000\u001f"`},
		{"no HTML escaping", "<a&b>", `"<a&b>"`},
		{"unicode kept", "héllo 😀 \u2028", "\"héllo 😀 \u2028\""},
		{"invalid UTF-8", "a\xffb", `"a\ufffdb"`},
		{"DEL kept", "\x7f", "\"\x7f\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Append([]byte("x"), tc.in)); got != "x"+tc.want {
				t.Errorf("Append(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "abc", `"\`, "\x00\n", "<>&", "é😀", "\xff\xfe", strings.Repeat("a\"", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := Append(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Append(%q) = %s: not JSON: %v", s, b, err)
		}
		// encoding/json replaces each invalid byte with U+FFFD too.
		std, _ := json.Marshal(s)
		var want string
		json.Unmarshal(std, &want)
		if back != want {
			t.Fatalf("Append(%q) decodes to %q", s, back)
		}
	})
}
