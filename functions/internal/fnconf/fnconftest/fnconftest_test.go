package fnconftest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps the failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestWith(t *testing.T) {
	base := map[string]string{"A": "1", "B": "2"}
	got := With(base, map[string]string{"A": "", "C": "3"})
	if len(got) != 2 || got["B"] != "2" || got["C"] != "3" || base["A"] != "1" || len(base) != 2 {
		t.Fatalf("With = %v, base %v", got, base)
	}
}

func TestRefusesCatchesEachFault(t *testing.T) {
	load := func(env map[string]string) (struct{}, error) {
		switch {
		case env["X"] == "accepted":
			return struct{}{}, nil
		case env["X"] == "unnamed":
			return struct{}{}, errors.New("config: something is wrong")
		case env["X_SECRET"] != "":
			return struct{}{}, errors.New("config: X_SECRET " + env["X_SECRET"] + " is too short")
		case env["X"] == "lines":
			return struct{}{}, errors.New("config: X is\nbad")
		}
		return struct{}{}, errors.New("config: X is bad; key=" + env["KEY"])
	}
	for _, tc := range []struct {
		bad  Bad
		want string
	}{
		{Set("X", "accepted"), "no error"},
		{Set("X", "unnamed"), "does not name X"},
		{Set("X_SECRET", "hunter2"), "leaks a secret"},
		{Set("X", "lines"), "not one line"},
		{Set("X", "other"), "leaks a secret"}, // the key given as a secret
		{Bad{Set: map[string]string{"X": "other"}, Names: []string{"X", "Y"}}, "does not name Y"},
	} {
		r := &recorder{TB: t}
		Refuses(r, load, map[string]string{"KEY": "k3y"}, []Bad{tc.bad}, "k3y")
		if len(r.errs) == 0 || !strings.Contains(strings.Join(r.errs, "|"), tc.want) {
			t.Errorf("%v: failures %q, want one saying %q", tc.bad, r.errs, tc.want)
		}
	}
	r := &recorder{TB: t}
	Refuses(r, load, map[string]string{"KEY": "k3y"}, []Bad{Set("X", "bad")})
	if len(r.errs) != 0 {
		t.Errorf("a good refusal failed: %q", r.errs)
	}
}
