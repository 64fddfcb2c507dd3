package oidc

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// Error is a refused token. Reason is one line that is safe to send to the
// caller and to log: it never contains the token, and names attacker-chosen
// values (a kid, an issuer) only quoted and clipped.
type Error struct {
	Reason string
	// Err is the underlying cause, when there is one (for errors.Is).
	Err error
}

func (e *Error) Error() string { return "oidc: " + e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// ErrKeysUnavailable is wrapped by the Error of a token that could not be
// checked because the issuer's discovery document or key set could not be
// fetched (and no cached key fits): the verifier fails closed.
var ErrKeysUnavailable = errors.New("oidc: signing keys unavailable")

func refuse(reason string) *Error { return &Error{Reason: reason} }

// quote clips an attacker-controlled string to a short, one-line, quoted form.
func quote(s string) string {
	return strconv.Quote(shorten.String(s, 64))
}

// parseReason maps golang-jwt's and keyfunc's errors to a reason.
func parseReason(err error, tok *jwt.Token, algs []string) *Error {
	alg, kid := "", ""
	if tok != nil {
		alg, _ = tok.Header["alg"].(string)
		kid, _ = tok.Header["kid"].(string)
	}
	var r string
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		r = "malformed token"
	case errors.Is(err, jwkset.ErrKeyNotFound), errors.Is(err, keyfunc.ErrKeyfunc) && strings.Contains(err.Error(), "rate limiter"):
		// Not in the key set, and either refetched without finding it or
		// refused a refetch by the rate limit.
		r = "token signed by an unknown key (kid " + quote(kid) + ")"
	case errors.Is(err, keyfunc.ErrKeyfunc):
		r = "token key (kid " + quote(kid) + ") does not fit the token's algorithm"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && tok != nil && alg != "" && !slices.Contains(algs, alg):
		r = "token algorithm " + quote(alg) + " is not accepted (want " + strings.Join(algs, ", ") + ")"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		r = "token signature invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		r = "token cannot be verified with the issuer's keys"
	case errors.Is(err, jwt.ErrTokenExpired):
		r = "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		r = "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		r = "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		r = "token audience not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		r = "token lacks a required claim"
		for _, c := range []string{"exp", "aud", "iss", "sub", "nbf", "iat"} {
			if strings.Contains(err.Error(), c+" claim") {
				r = "token lacks the required " + c + " claim"
				break
			}
		}
	default:
		r = "invalid token"
	}
	return &Error{Reason: r, Err: err}
}
