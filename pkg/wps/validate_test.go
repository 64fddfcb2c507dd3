package wps

import (
	"regexp"
	"strings"
	"testing"
)

// servicePattern is the service's own pattern for hub names; ValidHub must
// agree with it exactly.
var servicePattern = regexp.MustCompile("^[A-Za-z][A-Za-z0-9_`,.\\[\\]]{0,127}$")

var hubSeeds = []string{
	"", "a", "chat", "Chat_1", "a`,.[]", "1chat", "_chat", "chat room", "chat-room", "chät", "chat\n",
	"a" + strings.Repeat("b", 127), "a" + strings.Repeat("b", 128), "Z9", "@", "[", "`", "{", "z{",
}

func TestValidHubMatchesServicePattern(t *testing.T) {
	for _, s := range hubSeeds {
		if got, want := ValidHub(s), servicePattern.MatchString(s); got != want {
			t.Errorf("ValidHub(%q) = %v, want %v", s, got, want)
		}
	}
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), "a" + string([]byte{byte(c)})} {
			if got, want := ValidHub(s), servicePattern.MatchString(s); got != want {
				t.Errorf("ValidHub(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

func FuzzValidHub(f *testing.F) {
	for _, s := range hubSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidHub(s), servicePattern.MatchString(s); got != want {
			t.Errorf("ValidHub(%q) = %v, want %v", s, got, want)
		}
	})
}
