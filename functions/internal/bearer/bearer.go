// Package bearer checks an "Authorization: Bearer ..." header against a
// shared secret (compared in constant time) or an HS256 JWT (golang-jwt),
// for the broadcast and negotiate functions.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks bearer credentials. Set Secret, JWTSecret or both.
type Verifier struct {
	// Secret, when set, is accepted as the bearer value itself.
	Secret string
	// JWTSecret, when set, verifies HS256 JWTs; only HS256 is accepted.
	JWTSecret string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer, Audience string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	// RequireSubject rejects JWTs without a sub claim.
	RequireSubject bool
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Identity is who a request proved to be.
type Identity struct {
	// Method is "secret" or "jwt".
	Method string
	// Subject is the JWT's sub claim (empty for the shared secret).
	Subject string
	// Claims are the JWT's claims (nil for the shared secret).
	Claims jwt.MapClaims
}

// Error is an authentication failure. Reason is safe to show to the caller:
// it never contains the credential.
type Error struct{ Reason string }

func (e *Error) Error() string { return "unauthorized: " + e.Reason }

func fail(reason string) error { return &Error{Reason: reason} }

// Token returns the bearer value of r's Authorization header.
func Token(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", fail("missing Authorization header")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fail("Authorization scheme must be Bearer")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fail("empty bearer token")
	}
	return tok, nil
}

// Verify checks r's bearer credential.
func (v *Verifier) Verify(r *http.Request) (*Identity, error) {
	tok, err := Token(r)
	if err != nil {
		return nil, err
	}
	return v.VerifyToken(tok)
}

// VerifyToken checks one bearer value.
func (v *Verifier) VerifyToken(tok string) (*Identity, error) {
	if v.Secret != "" {
		// Hashing first makes the comparison independent of the lengths.
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(v.Secret))
		if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			return &Identity{Method: "secret"}, nil
		}
		if v.JWTSecret == "" || strings.Count(tok, ".") != 2 {
			return nil, fail("invalid bearer secret")
		}
	}
	if v.JWTSecret == "" {
		return nil, fail("no credential is configured")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.Leeway),
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) {
		return []byte(v.JWTSecret), nil
	})
	if err != nil {
		return nil, fail(jwtReason(err))
	}
	sub, _ := claims.GetSubject()
	if v.RequireSubject && sub == "" {
		return nil, fail("token has no sub claim")
	}
	return &Identity{Method: "jwt", Subject: sub, Claims: claims}, nil
}

// jwtReason maps golang-jwt's errors to a short reason.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token signature or algorithm invalid (HS256 expected)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token audience not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token issuer not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		for _, c := range []string{"exp", "aud", "iss", "sub", "nbf", "iat"} {
			if strings.Contains(err.Error(), c+" claim") {
				return "token lacks the required " + c + " claim"
			}
		}
		return "token lacks a required claim"
	}
	return "invalid token"
}
