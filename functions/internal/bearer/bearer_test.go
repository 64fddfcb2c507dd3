package bearer

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtKey = "jwt-secret-0123456789abcdef"

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{Secret: "plain-secret-0123456789", JWTSecret: jwtKey, Issuer: "app", Audience: "wps",
		RequireSubject: true, Now: func() time.Time { return now }}
	good := jwt.MapClaims{"sub": "alice", "iss": "app", "aud": "wps", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for a, b := range good {
			c[a] = b
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	cases := []struct {
		name, header, reason, sub string
	}{
		{"secret", "Bearer plain-secret-0123456789", "", ""},
		{"lower-case scheme", "bearer plain-secret-0123456789", "", ""},
		{"jwt", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), good), "", "alice"},
		{"missing", "", "missing Authorization header", ""},
		{"basic", "Basic abc", "Authorization scheme must be Bearer", ""},
		{"empty", "Bearer  ", "empty bearer token", ""},
		{"wrong secret", "Bearer plain-secret-012345678", "invalid bearer secret", ""},
		{"alg none", "Bearer " + noneTok, "token signature or algorithm invalid (HS256 expected)", ""},
		{"HS512", "Bearer " + sign(t, jwt.SigningMethodHS512, []byte(jwtKey), good), "token signature or algorithm invalid (HS256 expected)", ""},
		{"wrong key", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("other-secret-0123456789"), good), "token signature or algorithm invalid (HS256 expected)", ""},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("exp", now.Add(-time.Minute).Unix())), "token expired", ""},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("exp", nil)), "token lacks the required exp claim", ""},
		{"wrong aud", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("aud", "other")), "token audience not accepted", ""},
		{"no aud", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("aud", nil)), "token lacks the required aud claim", ""},
		{"wrong iss", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("iss", "evil")), "token issuer not accepted", ""},
		{"future nbf", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("nbf", now.Add(time.Hour).Unix())), "token not valid yet", ""},
		{"no sub", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(jwtKey), with("sub", nil)), "token has no sub claim", ""},
		{"garbage", "Bearer a.b.c", "malformed token", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			id, err := v.Verify(r)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.Subject != c.sub {
					t.Fatalf("subject %q, want %q", id.Subject, c.sub)
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) || be.Reason != c.reason {
				t.Fatalf("err = %v, want reason %q", err, c.reason)
			}
			if strings.Contains(err.Error(), "plain-secret") || strings.Contains(err.Error(), jwtKey) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestVerifyJWTOnlyRejectsSecretLookalike(t *testing.T) {
	v := &Verifier{JWTSecret: jwtKey}
	if _, err := v.VerifyToken(context.Background(), jwtKey); err == nil {
		t.Fatal("the JWT key itself must not work as a bearer secret")
	}
}
