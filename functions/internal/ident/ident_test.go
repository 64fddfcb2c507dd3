package ident

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		s    string
		max  int
		want string // "" for acceptable
	}{
		{"alice", 256, ""},
		{"chät room", 256, ""},
		{"", 256, "is empty"},
		{strings.Repeat("a", 257), 256, "is longer than 256 bytes"},
		{strings.Repeat("a", 256), 256, ""},
		{"a\xffb", 256, "is not valid UTF-8"},
		{" \t ", 256, "is only whitespace"},
		{"a\x00b", 1024, "holds a control character"},
		{"a\u0085b", 1024, "holds a control character"},
	} {
		err := Check(tc.s, tc.max)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("Check(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	// ä is two bytes: 40 bytes hold 20, and a cut never halves one.
	if got := Clip(strings.Repeat("ä", 21)); got != strings.Repeat("ä", 20)+"…" {
		t.Errorf("Clip(21 ä) = %q", got)
	}
	if got := Clip("a" + strings.Repeat("ä", 20)); got != "a"+strings.Repeat("ä", 19)+"…" {
		t.Errorf("Clip(a + 20 ä) = %q", got)
	}
	if got := Clip(strings.Repeat("ä", 20)); got != strings.Repeat("ä", 20) {
		t.Errorf("Clip(20 ä) = %q", got)
	}
}
