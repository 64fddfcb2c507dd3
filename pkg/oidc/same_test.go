package oidc

import (
	"strings"
	"testing"
)

// sameToken is exact for every length and every position of a difference,
// including the bytes past the last whole word.
func TestSameToken(t *testing.T) {
	tok := strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 70) + "sig" // 1,543 bytes: not a whole number of words
	flip := func(s string, i int) string { b := []byte(s); b[i] ^= 0x01; return string(b) }
	for _, tc := range []struct {
		name string
		a, b string
		want bool
	}{
		{"same", tok, strings.Clone(tok), true},
		{"first byte differs", tok, flip(tok, 0), false},
		{"a middle byte differs", tok, flip(tok, 777), false},
		{"last whole word differs", tok, flip(tok, len(tok)/8*8-1), false},
		{"tail byte differs", tok, flip(tok, len(tok)-1), false},
		{"shorter", tok, tok[:len(tok)-1], false},
		{"both empty", "", "", false},
		{"short same", "abc", "abc", true},
		{"short differs", "abc", "abd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameToken(tc.a, tc.b); got != tc.want {
				t.Errorf("sameToken = %v, want %v", got, tc.want)
			}
		})
	}
}
