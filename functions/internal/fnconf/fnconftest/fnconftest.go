// Package fnconftest checks a function's LoadConfigFrom against bad
// environments: each must be refused with one line that names the variables
// at fault and gives away no secret.
package fnconftest

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// With returns a copy of base changed by set, where an empty value unsets
// the variable.
func With(base, set map[string]string) map[string]string {
	env := maps.Clone(base)
	for k, v := range set {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// Bad is a change to a good environment that the loader must refuse.
type Bad struct {
	Set map[string]string // applied as With does
	// Names must all appear in the error; nil means the variables of Set.
	Names []string
}

// Set is the Bad that sets key to val, or unsets it when val is empty.
func Set(key, val string) Bad { return Bad{Set: map[string]string{key: val}} }

// Refuses checks that load refuses base changed by each case, with an error
// of one line that names the case's variables and contains none of secrets
// nor any value the case gives a variable whose name holds SECRET or
// CONNECTION_STRING.
func Refuses[C any](t testing.TB, load func(map[string]string) (C, error), base map[string]string, cases []Bad, secrets ...string) {
	t.Helper()
	for _, c := range cases {
		_, err := load(With(base, c.Set))
		if err == nil {
			t.Errorf("%v: no error", c.Set)
			continue
		}
		msg := err.Error()
		names := c.Names
		if names == nil {
			names = slices.Sorted(maps.Keys(c.Set))
		}
		for _, n := range names {
			if !strings.Contains(msg, n) {
				t.Errorf("%v: error %q does not name %s", c.Set, msg, n)
			}
		}
		leaks := slices.Clone(secrets)
		for k, v := range c.Set {
			if strings.Contains(k, "SECRET") || strings.Contains(k, "CONNECTION_STRING") {
				leaks = append(leaks, v)
			}
		}
		for _, s := range leaks {
			if s != "" && strings.Contains(msg, s) {
				t.Errorf("%v: error %q leaks a secret", c.Set, msg)
			}
		}
		if strings.ContainsAny(msg, "\r\n") {
			t.Errorf("%v: error %q is not one line", c.Set, msg)
		}
	}
}
