package cloudevents

import (
	"encoding/hex"
	"testing"
)

// TestDecodeHexMatchesEncodingHex: for every pair of bytes, decodeHex
// accepts and decodes exactly what encoding/hex does.
func TestDecodeHexMatchesEncodingHex(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			s := string([]byte{byte(a), byte(b)})
			want, err := hex.DecodeString(s)
			var got [1]byte
			ok := decodeHex(got[:], s)
			if ok != (err == nil) || ok && got[0] != want[0] {
				t.Fatalf("%q: decodeHex %v %x, encoding/hex %x %v", s, ok, got, want, err)
			}
		}
	}
	var dst [2]byte
	if decodeHex(dst[:], "abc") || decodeHex(dst[:], "abcde") {
		t.Fatal("decodeHex accepted a string of the wrong length")
	}
}
