package oidc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

// FuzzVerify: any input is refused with a one-line *oidc.Error (or, for the
// one real token among the seeds, accepted), never a panic.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f, idp.RS256)
	good := is.token(f, aud, "alice", nil)
	for _, s := range []string{good, good + "x", "a.b.c", "", "..", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 100),
		"eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.AA", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJ4In0.AA"} {
		f.Add(s)
	}
	v, err := oidc.New(oidc.Config{Issuer: is.URL, Audiences: []string{aud}, UnknownKeyInterval: 1 << 62})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw)
		if err == nil {
			if raw != good || tok.Subject != "alice" {
				t.Fatalf("accepted %q", raw)
			}
			return
		}
		var e *oidc.Error
		if !errors.As(err, &e) || e.Reason == "" || strings.ContainsAny(e.Reason, "\r\n") {
			t.Fatalf("refusal %v", err)
		}
	})
}
