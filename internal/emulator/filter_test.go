package emulator

import (
	"errors"
	"strings"
	"testing"
)

func subject(user, id string, groups ...string) filterSubject {
	s := filterSubject{userID: user, connectionID: id, groups: map[string]struct{}{}}
	for _, g := range groups {
		s.groups[g] = struct{}{}
	}
	return s
}

func TestFilter(t *testing.T) {
	alice := subject("alice", "c1", "g1", "g2")
	obrien := subject("o'brien", "c2", "g 3")
	anon := subject("", "c3")
	for _, tc := range []struct {
		filter string
		want   [3]bool // alice, obrien, anon
	}{
		{"userId eq 'alice'", [3]bool{true, false, false}},
		{"UserID EQ 'alice'", [3]bool{true, false, false}},
		{"'alice' eq userId", [3]bool{true, false, false}},
		{"userId ne 'alice'", [3]bool{false, true, true}},
		{"userId eq 'o''brien'", [3]bool{false, true, false}},
		{"userId eq null", [3]bool{false, false, true}},
		{"userId ne null", [3]bool{true, true, false}},
		{"connectionId in ('c1', 'c3')", [3]bool{true, false, true}},
		{"userId in ('o''brien')", [3]bool{false, true, false}},
		{"'g1' in groups", [3]bool{true, false, false}},
		{"'g 3' in groups or 'g2' in groups", [3]bool{true, true, false}},
		{"not ('g1' in groups)", [3]bool{false, true, true}},
		{"not('g1' in groups)", [3]bool{false, true, true}},
		{"userId eq 'alice' and (not ('g1' in groups))", [3]bool{false, false, false}},
		{"userId in ('alice','o''brien') and 'g1' in groups", [3]bool{true, false, false}},
		{"userId eq 'x' or userId eq 'alice' and connectionId eq 'c9'", [3]bool{false, false, false}}, // and binds tighter
		{"(userId eq 'x' or userId eq 'alice') and connectionId eq 'c1'", [3]bool{true, false, false}},
		{"not not userId eq 'alice'", [3]bool{true, false, false}},
		{"  ((( connectionId eq 'c2' )))  ", [3]bool{false, true, false}},
	} {
		f, err := parseFilter(tc.filter)
		if err != nil {
			t.Errorf("%q: %v", tc.filter, err)
			continue
		}
		for i, s := range []filterSubject{alice, obrien, anon} {
			if got := f.eval(s); got != tc.want[i] {
				t.Errorf("%q on subject %d = %v, want %v", tc.filter, i, got, tc.want[i])
			}
		}
	}
}

func TestFilterErrors(t *testing.T) {
	for _, src := range []string{
		"", "   ", "userId", "userId eq", "userId eq 'a", "userId eq 'a' and", "(userId eq 'a'",
		"userId eq 'a')", "name eq 'a'", "length(userId) gt 5", "userId gt 'a'",
		"'a' in ('b' 'c')", "'a' in ()", "groups eq 'a'", "not 'a'", "'a' and 'b'", "userId eq 'a' userId",
		"userId = 'a'", "userId eq \"a\"", "\xff",
	} {
		_, err := parseFilter(src)
		var fe *FilterError
		if !errors.As(err, &fe) {
			t.Errorf("%q: err = %v, want a *FilterError", src, err)
		}
	}
}

// FuzzFilter: the parser never panics, stays bounded, and whatever parses
// evaluates without panicking; quoting a value always round-trips.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"userId eq 'alice'", "userId eq 'o''brien'", "connectionId in ('a','b')", "'g' in groups",
		"not ('g1' in groups) and (userId ne null or connectionId eq 'x')", "((((", "'''", "userId eq ''''",
		"not not not userId eq 'a'", "userId in ('a',", "é eq 'é'", "invalid filter", "foo eq 'u'", "userId eq 'a' x",
	} {
		f.Add(s, "alice")
	}
	f.Fuzz(func(t *testing.T, src, value string) {
		if fe, err := parseFilter(src); err == nil {
			fe.eval(subject(value, value, value))
		} else if e := invalidFilter(src, err); !strings.HasPrefix(e.Message, "Invalid syntax for '"+src+"': ") || !strings.HasSuffix(e.Message, ". (Parameter 'filter')") {
			t.Fatalf("%q: service text %q", src, e.Message)
		}
		q := "userId eq '" + stringsReplaceQuote(value) + "'"
		fe, err := parseFilter(q)
		if err != nil {
			if len(q) <= maxFilterLen && validUTF8(value) {
				t.Fatalf("quoted literal %q did not parse: %v", q, err)
			}
			return
		}
		if value != "" && !fe.eval(subject(value, "c")) { // no user id is null, not ''
			t.Fatalf("%q does not match user %q", q, value)
		}
	})
}

func stringsReplaceQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func validUTF8(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' {
			return false
		}
	}
	return true
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, group string
		want           bool
	}{
		{"a.*", "a.b", true}, {"a.*", "a.b.c", false}, {"a.**", "a.b.c", true}, {"a?c", "abc", true},
		{"a?c", "a.c", false}, {"*", "", true}, {"\\*", "*", true}, {"\\*", "x", false}, {"a*b*c", "axxbyyc", true},
		{"*.*.*.*.*.*", "a.b.c.d.e.f", false}, // more than five '*'
		// Backtracking would take ~1024^3 steps here; memoised it is instant.
		{"**a**a*b", strings.Repeat("a", 1024) + "c", false},
		{"**a**a*b", strings.Repeat("a", 1024) + "b", true},
	} {
		if got := wildcardMatch(tc.pattern, tc.group); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.group, got, tc.want)
		}
	}
}
