package wps

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFilterHelpers(t *testing.T) {
	cases := map[string]string{
		FilterUserIs("o'brien"):                      "userId eq 'o''brien'",
		FilterUserIsNot("bob"):                       "userId ne 'bob'",
		FilterUserIn("a", "b'c"):                     "userId in ('a','b''c')",
		FilterConnectionIs("c 1"):                    "connectionId eq 'c 1'",
		FilterConnectionIn():                         "connectionId in ()",
		InGroup("room'1"):                            "'room''1' in groups",
		And(FilterUserIs("a"), InGroup("g")):         "(userId eq 'a') and ('g' in groups)",
		Or(FilterUserIs("a"), "", Not(InGroup("g"))): "(userId eq 'a') or (not ('g' in groups))",
		And(FilterUserIs("a")):                       "userId eq 'a'",
		And():                                        "",
		Not(""):                                      "",
		"length(userId) gt " + FilterInt(5):          "length(userId) gt 5",
		Quote("'') or (1 eq 1"):                      "''''') or (1 eq 1'",
		And(Or(FilterUserIs("x"), FilterUserIs("y")), InGroup("g")): "((userId eq 'x') or (userId eq 'y')) and ('g' in groups)",
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
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
		filter := And(FilterUserIs(user), Not(InGroup(group)), FilterConnectionIn(user, group))
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
