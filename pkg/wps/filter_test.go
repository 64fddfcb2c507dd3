package wps

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFilterConstructors(t *testing.T) {
	cases := []struct {
		name string
		f    Filter
		want string
	}{
		{"user is, quote doubled", FilterUserIs("o'brien"), "userId eq 'o''brien'"},
		{"user is not", FilterUserIsNot("bob"), "userId ne 'bob'"},
		{"user in", FilterUserIn("a", "b'c"), "userId in ('a','b''c')"},
		{"connection is", FilterConnectionIs("c 1"), "connectionId eq 'c 1'"},
		{"connection in", FilterConnectionIn("c1", "c2"), "connectionId in ('c1','c2')"},
		{"in group", FilterInGroup("room'1"), "'room''1' in groups"},
		{"and", And(FilterUserIs("a"), FilterInGroup("g")), "(userId eq 'a') and ('g' in groups)"},
		{"or skips the zero filter", Or(FilterUserIs("a"), Filter{}, Not(FilterInGroup("g"))), "(userId eq 'a') or (not ('g' in groups))"},
		{"and of one", And(FilterUserIs("a")), "userId eq 'a'"},
		{"and of none", And(), ""},
		{"and of zero filters", And(Filter{}, RawFilter("")), ""},
		{"raw", RawFilter("length(userId) gt 5"), "length(userId) gt 5"},
		{"raw with quote", RawFilter("startswith(userId, " + Quote("o'b") + ")"), "startswith(userId, 'o''b')"},
		{"quote cannot break out", RawFilter("userId eq " + Quote("'') or (1 eq 1")), "userId eq ''''') or (1 eq 1'"},
		{"nested", And(Or(FilterUserIs("x"), FilterUserIs("y")), FilterInGroup("g")), "((userId eq 'x') or (userId eq 'y')) and ('g' in groups)"},
		{"not of raw", Not(RawFilter("'g' in groups")), "not ('g' in groups)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.f.Err() != nil {
				t.Fatalf("Err() = %v", tc.f.Err())
			}
			if got := tc.f.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.f.IsZero() != (tc.want == "") {
				t.Errorf("IsZero() = %v for %q", tc.f.IsZero(), tc.want)
			}
		})
	}
}

// TestFilterErrors: a filter that cannot mean what was asked (Not of the
// zero Filter would match nobody, yet dropping it would match everyone)
// carries an error through And, Or and Not, and never renders as text.
func TestFilterErrors(t *testing.T) {
	cases := []struct {
		name string
		f    Filter
		want string
	}{
		{"not of zero", Not(Filter{}), "Not of an empty filter"},
		{"not of raw empty", Not(RawFilter("")), "Not of an empty filter"},
		{"not of and of none", Not(And()), "Not of an empty filter"},
		{"user in none", FilterUserIn(), "FilterUserIn was given no ids"},
		{"connection in none", FilterConnectionIn(), "FilterConnectionIn was given no ids"},
		{"inside and", And(FilterUserIs("a"), Not(Filter{})), "Not of an empty filter"},
		{"inside or", Or(Not(Filter{}), FilterUserIs("a")), "Not of an empty filter"},
		{"not of an error", Not(FilterUserIn()), "FilterUserIn was given no ids"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Err() = %v, want one containing %q", err, tc.want)
			}
			if tc.f.String() != "" || tc.f.IsZero() {
				t.Errorf("String() = %q, IsZero() = %v; an erroneous filter must be neither text nor no filter", tc.f.String(), tc.f.IsZero())
			}
		})
	}
}

// TestFilterErrorSendsNothing: a call given an erroneous filter fails with
// the filter's reason before any request (so it cannot reach everyone).
func TestFilterErrorSendsNothing(t *testing.T) {
	rec := newRecorder(t)
	c := newTestClient(t, rec.URL, nil)
	ctx := context.Background()
	calls := map[string]error{
		"SendToAll":                   c.SendToAll(ctx, Text("x"), &SendOptions{Filter: Not(Filter{})}),
		"SendToGroup":                 c.SendToGroup(ctx, "g", Text("x"), &SendOptions{Filter: And(FilterUserIs("a"), Not(Filter{}))}),
		"SendToUser":                  c.SendToUser(ctx, "u", Text("x"), &SendOptions{Filter: FilterConnectionIn()}),
		"AddConnectionsToGroups":      c.AddConnectionsToGroups(ctx, []string{"g"}, Not(Filter{})),
		"RemoveConnectionsFromGroups": c.RemoveConnectionsFromGroups(ctx, []string{"g"}, FilterUserIn()),
	}
	for op, err := range calls {
		if err == nil || !strings.HasPrefix(err.Error(), "wps: "+op+": filter: ") {
			t.Errorf("%s: error %v, want the filter's", op, err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent with erroneous filters", n)
	}
}

// odataToken splits a filter into tokens: string literals (decoded, marked
// by a leading '), parentheses, commas and words.
func odataTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			var lit strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated literal in %q", s)
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						lit.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				lit.WriteByte(s[i])
				i++
			}
			toks = append(toks, "'"+lit.String())
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != ',' && s[j] != '\'' {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

// FuzzFilter checks that no value, however hostile, changes the structure of
// a filter built with the helpers: the tokens around the values stay the same
// and each value comes back intact from its literal.
func FuzzFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"alice", "room"}, {"o'brien", "it''s"}, {"') or ('1' eq '1", "x' in groups or 'y"},
		{"", ""}, {"'", "''"}, {"a b", "ünï 😀"}, {"not (x)", ") and ("},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, user, group string) {
		if !utf8.ValidString(user) || !utf8.ValidString(group) {
			return
		}
		filter := And(FilterUserIs(user), Not(FilterInGroup(group)), FilterConnectionIn(user, group)).String()
		toks, err := odataTokens(filter)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"(", "userId", "eq", "'" + user, ")", "and", "(", "not", "(", "'" + group, "in", "groups", ")", ")",
			"and", "(", "connectionId", "in", "(", "'" + user, ",", "'" + group, ")", ")"}
		if fmt.Sprintf("%q", toks) != fmt.Sprintf("%q", want) {
			t.Fatalf("filter %q tokenizes as\n%q\nwant\n%q", filter, toks, want)
		}
	})
}
