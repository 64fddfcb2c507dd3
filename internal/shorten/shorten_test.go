package shorten

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		n       int
		want    string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"ascii", "abcdef", 3, "abc…"},
		{"empty", "", 0, ""},
		{"zero budget", "abc", 0, "…"},
		{"negative budget", "abc", -4, "…"},
		{"inside a two-byte rune", "aé", 2, "a…"},
		{"on a rune boundary", "éa", 2, "é…"},
		{"inside a four-byte rune", "x😀y", 3, "x…"},
		{"after a four-byte rune", "x😀y", 5, "x😀…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.s, tc.n); got != tc.want {
				t.Errorf("String(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	if got := Prefix("aé", 2); got != "a" {
		t.Errorf("Prefix = %q", got)
	}
	if got := Prefix("abc", -1); got != "" {
		t.Errorf("Prefix negative = %q", got)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "abc", "aé", "x😀y", strings.Repeat("é", 70), "\xff\xfe"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := Prefix(s, n)
		if !strings.HasPrefix(s, got) || (n >= 0 && len(got) > n) {
			t.Fatalf("Prefix(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Prefix(%q, %d) = %q cuts a character", s, n, got)
		}
		if len(s) > n && String(s, n) != got+Ellipsis {
			t.Fatalf("String(%q, %d) = %q", s, n, String(s, n))
		}
	})
}
