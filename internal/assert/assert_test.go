package assert

import (
	"errors"
	"testing"
)

// recorder is a testing.TB that notes failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestChecks(t *testing.T) {
	errX := errors.New("x")
	for _, tc := range []struct {
		name string
		run  func(testing.TB)
		fail bool
	}{
		{"Equal same", func(tb testing.TB) { Equal(tb, "v", []int{1}, []int{1}) }, false},
		{"Equal differ", func(tb testing.TB) { Equal(tb, "v", 1, 2) }, true},
		{"True", func(tb testing.TB) { True(tb, "c", true) }, false},
		{"True false", func(tb testing.TB) { True(tb, "c", false) }, true},
		{"Success nil", func(tb testing.TB) { Success(tb, nil) }, false},
		{"Success err", func(tb testing.TB) { Success(tb, errX) }, true},
		{"Error err", func(tb testing.TB) { Error(tb, errX) }, false},
		{"Error nil", func(tb testing.TB) { Error(tb, nil) }, true},
		{"ErrorIs wrapped", func(tb testing.TB) { ErrorIs(tb, errors.Join(errX), errX) }, false},
		{"ErrorIs other", func(tb testing.TB) { ErrorIs(tb, errors.New("y"), errX) }, true},
		{"Contains", func(tb testing.TB) { Contains(tb, "s", "abc", "b") }, false},
		{"Contains not", func(tb testing.TB) { Contains(tb, "s", "abc", "d") }, true},
		{"NotContains", func(tb testing.TB) { NotContains(tb, "s", "abc", "d") }, false},
		{"NotContains does", func(tb testing.TB) { NotContains(tb, "s", "abc", "b") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			tc.run(r)
			if r.failed != tc.fail {
				t.Errorf("failed = %v, want %v", r.failed, tc.fail)
			}
		})
	}
}
