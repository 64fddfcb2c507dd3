// Package bearer checks an "Authorization: Bearer ..." header for the
// broadcast and negotiate functions: a shared secret (compared in constant
// time), an HS256 JWT of the application (golang-jwt), or a user or
// service token of any OpenID Connect issuer (pkg/oidc), which then also
// names the user and the caller's roles.
package bearer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

// Verifier checks bearer credentials. Set Secret, JWTSecret, OIDC or any
// combination: a token whose header says HS256 goes to JWTSecret, any
// other JWT to OIDC.
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

	// OIDC, when set, verifies asymmetric JWTs of an OpenID Connect issuer.
	OIDC *oidc.Verifier
	// UserClaim names the claim that is the user id of an OIDC token;
	// empty means sub.
	UserClaim string
	// RolesClaim names the claim holding the caller's roles, groups or
	// scopes (an array, or a space-separated string like scp), for either
	// kind of JWT; empty means none.
	RolesClaim string
	// RequireRoles, when set, refuses (403) a JWT whose RolesClaim holds
	// none of them.
	RequireRoles []string
}

// Identity is who a request proved to be.
type Identity struct {
	// Method is "secret", "jwt" (HS256) or "oidc".
	Method string
	// Subject is the user id: the JWT's sub, or an OIDC token's UserClaim
	// (empty for the shared secret).
	Subject string
	// Roles are the values of RolesClaim.
	Roles []string
	// Claims are the JWT's claims (nil for the shared secret); read only.
	Claims map[string]any
}

// Error is an authentication failure. Reason is safe to show to the caller:
// it never contains the credential. Forbidden marks a caller that proved who
// it is but lacks a required role (403, not 401).
type Error struct {
	Reason    string
	Forbidden bool
}

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
	return v.VerifyToken(r.Context(), tok)
}

// VerifyToken checks one bearer value.
func (v *Verifier) VerifyToken(ctx context.Context, tok string) (*Identity, error) {
	id, err := v.verifyToken(ctx, tok)
	if err != nil || id.Method == "secret" {
		return id, err
	}
	if v.RolesClaim != "" {
		id.Roles = (&oidc.Token{Claims: id.Claims}).Strings(v.RolesClaim) // one reading of list claims, for HS256 and OIDC tokens alike
	}
	if len(v.RequireRoles) > 0 && !slices.ContainsFunc(id.Roles, func(r string) bool { return slices.Contains(v.RequireRoles, r) }) {
		return nil, &Error{Reason: "token's " + v.RolesClaim + " claim holds none of the required roles", Forbidden: true}
	}
	return id, nil
}

func (v *Verifier) verifyToken(ctx context.Context, tok string) (*Identity, error) {
	if v.Secret != "" {
		// Hashing first makes the comparison independent of the lengths.
		a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(v.Secret))
		if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			return &Identity{Method: "secret"}, nil
		}
		if (v.JWTSecret == "" && v.OIDC == nil) || strings.Count(tok, ".") != 2 {
			return nil, fail("invalid bearer secret")
		}
	}
	if v.OIDC != nil && (v.JWTSecret == "" || headerAlg(tok) != "HS256") {
		return v.verifyOIDC(ctx, tok)
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

func (v *Verifier) verifyOIDC(ctx context.Context, tok string) (*Identity, error) {
	t, err := v.OIDC.Verify(ctx, tok)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return nil, fail(oe.Reason)
		}
		return nil, fail("invalid token")
	}
	claim := v.UserClaim
	if claim == "" {
		claim = "sub"
	}
	user := t.String(claim)
	if user == "" {
		return nil, fail("token has no " + claim + " claim")
	}
	return &Identity{Method: "oidc", Subject: user, Claims: t.Claims}, nil
}

// headerAlg returns the alg of a JWT's header without verifying anything.
func headerAlg(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hd struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &hd) != nil {
		return ""
	}
	return hd.Alg
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
