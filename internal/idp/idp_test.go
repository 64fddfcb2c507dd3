package idp_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/idp"
)

func TestRotateKeepsOldKeysUntilRetire(t *testing.T) {
	for _, alg := range []idp.Alg{idp.RS256, idp.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			p, err := idp.New(alg)
			if err != nil {
				t.Fatal(err)
			}
			old, _, err := p.Access("https://iss", "tid", "aud", "sub", time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := p.KeyID()
			second, err := p.Rotate()
			if err != nil || second == first || p.KeyID() != second {
				t.Fatalf("rotate: %q %q %v", first, second, err)
			}
			kids := func() []string {
				b, err := p.JWKS()
				if err != nil {
					t.Fatal(err)
				}
				var set struct {
					Keys []struct{ Kid, Alg, Use string }
				}
				json.Unmarshal(b, &set)
				var out []string
				for _, k := range set.Keys {
					if k.Alg != string(alg) || k.Use != "sig" {
						t.Fatalf("key %+v", k)
					}
					out = append(out, k.Kid)
				}
				return out
			}
			if got := kids(); len(got) != 2 {
				t.Fatalf("published %v, want both keys", got)
			}
			parse := func(raw string) error {
				_, err := jwt.Parse(raw, p.Keyfunc, jwt.WithValidMethods([]string{string(alg)}))
				return err
			}
			if err := parse(old); err != nil {
				t.Fatalf("a token of the old key after rotation: %v", err)
			}
			p.Retire()
			if got := kids(); len(got) != 1 || got[0] != second {
				t.Fatalf("after Retire %v", got)
			}
			if err := parse(old); err == nil {
				t.Fatal("a token of a retired key still verifies")
			}
		})
	}
}

func TestAccessNeedsAudienceAndSubject(t *testing.T) {
	p, _ := idp.New(idp.ES256)
	if _, _, err := p.Access("i", "t", "", "s", time.Minute, nil); err != idp.ErrClaims {
		t.Fatal(err)
	}
}
