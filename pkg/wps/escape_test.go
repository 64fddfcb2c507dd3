package wps

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzEscape checks that any id becomes exactly one path segment (or query
// value) that decodes back to the id and carries nothing that could end or
// split it.
func FuzzEscape(f *testing.F) {
	for _, s := range append(trickyIDs, "", ".", "..", "%", "%2F", "a/../b", "\x00\xff") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, esc := range []struct {
			name string
			out  string
		}{{"path", escapePath(s)}, {"query", escapeQuery(s)}} {
			if strings.ContainsAny(esc.out, "/?#&=+ ;:@$,\"<>\\^`{|}[]\x00\n") || (esc.name == "query" && strings.Contains(esc.out, "'")) {
				t.Fatalf("%s escape of %q = %q keeps a delimiter", esc.name, s, esc.out)
			}
			if esc.name == "path" && (esc.out == "." || esc.out == "..") {
				t.Fatalf("%s escape of %q = %q is a dot segment", esc.name, s, esc.out)
			}
			back, err := url.PathUnescape(esc.out)
			if err != nil || back != s {
				t.Fatalf("%s escape of %q = %q decodes to %q, %v", esc.name, s, esc.out, back, err)
			}
		}
	})
}
