// Package assert is the tests' small set of checks: each names what it
// checks and shows got and want, so a test reads as a list of facts instead
// of compound `if a || b || c` conditions whose failure says nothing.
package assert

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Equal fails t unless got and want are deeply equal.
func Equal[T any](t testing.TB, name string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

// True fails t unless cond holds.
func True(t testing.TB, name string, cond bool) {
	t.Helper()
	if !cond {
		t.Errorf("%s: false, want true", name)
	}
}

// Success fails t now if err is not nil.
func Success(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// Error fails t if err is nil.
func Error(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("expected an error, got nil")
	}
}

// ErrorIs fails t unless errors.Is(err, target).
func ErrorIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %v, want one that is %v", err, target)
	}
}

// Contains fails t unless s contains sub.
func Contains(t testing.TB, name, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s = %q, want it to contain %q", name, s, sub)
	}
}

// NotContains fails t if s contains sub (a secret that must not leak, say).
func NotContains(t testing.TB, name, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Errorf("%s contains %q, want it not to", name, sub)
	}
}
