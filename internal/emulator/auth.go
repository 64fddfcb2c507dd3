package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token checks, the way the service does them: HS256 signed with either
// access key, an unexpired exp, and an audience naming this endpoint's path
// (the host is not compared, so localhost, 127.0.0.1 and reverse proxies work).

// authError is a rejected token; its message never contains the token.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

const clockSkew = 5 * time.Minute

// verifyToken parses raw, checks its signature against the access keys and
// its time claims, and returns its claims.
func (s *Server) verifyToken(raw string) (jwt.MapClaims, error) {
	if raw == "" {
		return nil, &authError{"no access token"}
	}
	if claims, ok := s.tokens.get(raw); ok {
		return claims, nil
	}
	claims, err := s.parseToken(raw)
	if err == nil {
		if exp, e := claims.GetExpirationTime(); e == nil && exp != nil {
			s.tokens.put(raw, claims, exp.Time)
		}
	}
	return claims, err
}

// tokenCache remembers verified tokens until they expire: SDKs reuse one
// token for many REST calls, and HS256 parsing is most of a small call's cost.
// The cached claims are shared and must not be modified.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	claims jwt.MapClaims
	exp    time.Time
}

const tokenCacheSize = 4096

func (tc *tokenCache) get(raw string) (jwt.MapClaims, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	ct, ok := tc.m[raw]
	if !ok || time.Now().After(ct.exp) {
		return nil, false
	}
	return ct.claims, true
}

func (tc *tokenCache) put(raw string, claims jwt.MapClaims, exp time.Time) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.m == nil || len(tc.m) >= tokenCacheSize {
		tc.m = make(map[string]cachedToken) // crude, bounded
	}
	tc.m[raw] = cachedToken{claims, exp}
}

func (s *Server) parseToken(raw string) (jwt.MapClaims, error) {
	var lastErr error
	for _, key := range s.keys {
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(key), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(clockSkew), jwt.WithExpirationRequired())
		if err == nil {
			return claims, nil
		}
		lastErr = err
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break // the same answer with the other key
		}
	}
	switch {
	case errors.Is(lastErr, jwt.ErrTokenExpired):
		return nil, &authError{"the access token has expired"}
	case errors.Is(lastErr, jwt.ErrTokenSignatureInvalid):
		return nil, &authError{"the access token's signature does not match an access key"}
	case errors.Is(lastErr, jwt.ErrTokenMalformed):
		return nil, &authError{"the access token is malformed"}
	case errors.Is(lastErr, jwt.ErrTokenRequiredClaimMissing):
		return nil, &authError{"the access token has no exp claim"}
	case errors.Is(lastErr, jwt.ErrTokenNotValidYet), errors.Is(lastErr, jwt.ErrTokenUsedBeforeIssued):
		return nil, &authError{"the access token is not valid yet"}
	case errors.Is(lastErr, jwt.ErrTokenUnverifiable):
		return nil, &authError{"the access token is not an HS256 token"}
	}
	return nil, &authError{"the access token is invalid"}
}

// audiences returns the token's aud values.
func audiences(claims jwt.MapClaims) []string {
	aud, _ := claims.GetAudience()
	return aud
}

// clientAudienceOK reports whether aud names the client endpoint of hub:
// <any endpoint>/client/hubs/<hub> (hub case-insensitive, trailing slash ignored).
func clientAudienceOK(claims jwt.MapClaims, hub string) bool {
	for _, a := range audiences(claims) {
		u, err := url.Parse(a)
		if err != nil {
			continue
		}
		p := strings.TrimRight(u.Path, "/")
		if strings.EqualFold(p, "/client/hubs/"+hub) {
			return true
		}
	}
	return false
}

// restAudienceOK reports whether aud is the request URL: the same path, and
// either no query or the same query (the documented form omits it, the SDKs
// sign the full URL).
func restAudienceOK(claims jwt.MapClaims, r *http.Request) bool {
	for _, a := range audiences(claims) {
		u, err := url.Parse(a)
		if err != nil {
			continue
		}
		if strings.TrimRight(u.Path, "/") != strings.TrimRight(r.URL.Path, "/") {
			continue
		}
		if u.RawQuery == "" || sameQuery(u.Query(), r.URL.Query()) {
			return true
		}
	}
	return false
}

// EntraAudience is the audience of Microsoft Entra tokens for Web PubSub.
// The REST API takes tokens for it only from the local tenant (RS256,
// verified: identity.go), never key-signed ones, as the service does.
const EntraAudience = "https://webpubsub.azure.com"

func sameQuery(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv := b[k]
		if len(av) != len(bv) {
			return false
		}
		for i := range av {
			if av[i] != bv[i] {
				return false
			}
		}
	}
	return true
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// claimsToMap flattens claims to the connect event's string → []string form.
func claimsToMap(claims jwt.MapClaims) map[string][]string {
	m := make(map[string][]string, len(claims))
	for k, v := range claims {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				m[k] = append(m[k], claimString(x))
			}
		default:
			m[k] = []string{claimString(v)}
		}
	}
	return m
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// claimStrings returns a claim that may be a string or an array of strings.
func claimStrings(claims jwt.MapClaims, k string) []string {
	switch v := claims[k].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// clientToken mints a client access token like the SDKs do.
// It lives minutes minutes (in seconds arithmetic: any int32 count fits,
// where a time.Duration of it would overflow).
func (s *Server) clientToken(aud, userID string, roles, groups []string, minutes int32) (string, error) {
	now := time.Now().Unix()
	claims := jwt.MapClaims{"aud": aud, "iat": now, "exp": now + int64(minutes)*60}
	if userID != "" {
		claims["sub"] = userID
	}
	if len(roles) > 0 {
		claims["role"] = roles
	}
	if len(groups) > 0 {
		claims["webpubsub.group"] = groups
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.keys[0]))
}

// newRandomID returns a 22-character URL-safe id: a counter for uniqueness
// and random bytes so ids are not predictable.
func newRandomID(n uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], n)
	rand.Read(b[8:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newSecret() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
