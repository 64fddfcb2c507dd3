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
	long := strings.Repeat("ä", 41)
	if got := Clip(long); got != strings.Repeat("ä", 40)+"…" {
		t.Errorf("Clip(41 ä) = %q", got)
	}
	if got := Clip(strings.Repeat("ä", 40)); got != strings.Repeat("ä", 40) {
		t.Errorf("Clip(40 ä) = %q", got)
	}
}
