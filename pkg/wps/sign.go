package wps

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/wpsfn/wpsfn/internal/jsonstr"
)

// restTokenLifetime is how long a REST call's token is valid, as in
// Microsoft's JavaScript SDK.
const restTokenLifetime = time.Hour

// tokenReuse is how long a signed REST token is reused for the same URL.
// Reuse saves signing on hot paths (a broadcast loop calls one URL); the
// token stays valid for far longer than this.
const tokenReuse = 5 * time.Minute

// maxCachedTokens bounds the per-URL token cache; when full it is emptied.
const maxCachedTokens = 1024

// jwtHeaderHS256 is base64url({"alg":"HS256","typ":"JWT"}).
const jwtHeaderHS256 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

type cachedToken struct {
	ks   *keyState
	iat  int64
	auth []string // {"Bearer <jwt>"}, shared by requests (never modified)
}

// tokenCache holds the last REST token per audience URL.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]cachedToken
}

// aadCache holds the last token from a TokenCredential.
type aadCache struct {
	mu   sync.Mutex
	auth []string
	exp  time.Time
	// fetch admits one GetToken at a time; a channel rather than mu so that
	// callers waiting behind a slow fetch still honour their contexts.
	fetch chan struct{}
	once  sync.Once
}

// authorization returns the Authorization header value for a call to aud.
func (c *Client) authorization(ctx context.Context, aud string) ([]string, error) {
	if c.tc != nil {
		return c.entraAuthorization(ctx)
	}
	ks := c.key.state()
	now := c.now().Unix()
	c.tokens.mu.RLock()
	e, ok := c.tokens.m[aud]
	c.tokens.mu.RUnlock()
	if ok && e.ks == ks && now >= e.iat && now-e.iat < int64(tokenReuse/time.Second) {
		return e.auth, nil
	}
	auth := []string{"Bearer " + signREST(ks, aud, now)}
	c.tokens.mu.Lock()
	if c.tokens.m == nil || len(c.tokens.m) >= maxCachedTokens {
		c.tokens.m = make(map[string]cachedToken)
	}
	c.tokens.m[aud] = cachedToken{ks: ks, iat: now, auth: auth}
	c.tokens.mu.Unlock()
	return auth, nil
}

func (c *Client) entraAuthorization(ctx context.Context) ([]string, error) {
	a := &c.aad
	if auth := a.cached(c.now()); auth != nil {
		return auth, nil
	}
	a.once.Do(func() { a.fetch = make(chan struct{}, 1) })
	select {
	case a.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.fetch }()
	if auth := a.cached(c.now()); auth != nil { // fetched while we waited
		return auth, nil
	}
	tok, err := c.tc.GetToken(ctx, []string{Scope})
	if err != nil {
		return nil, fmt.Errorf("getting a token from the credential: %w", err)
	}
	if tok.Token == "" {
		return nil, fmt.Errorf("the credential returned an empty token")
	}
	auth := []string{"Bearer " + tok.Token}
	a.mu.Lock()
	a.auth = auth
	// Refresh two minutes early so a token never expires mid-call.
	a.exp = tok.ExpiresOn.Add(-2 * time.Minute)
	a.mu.Unlock()
	return auth, nil
}

// cached returns the cached Authorization value if it is still fresh at now.
func (a *aadCache) cached(now time.Time) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.auth != nil && now.Before(a.exp) {
		return a.auth
	}
	return nil
}

// signREST returns the HS256 JWT for a REST call to aud issued at iat (Unix
// seconds): header {"alg":"HS256","typ":"JWT"}, claims {"iat","exp","aud"}
// in that order, exactly as Microsoft's JavaScript SDK writes them. It is
// written by hand because it runs for every call.
func signREST(ks *keyState, aud string, iat int64) string {
	var claimsBuf [512]byte
	claims := append(claimsBuf[:0], `{"iat":`...)
	claims = strconv.AppendInt(claims, iat, 10)
	claims = append(claims, `,"exp":`...)
	claims = strconv.AppendInt(claims, iat+int64(restTokenLifetime/time.Second), 10)
	claims = append(claims, `,"aud":`...)
	claims = jsonstr.Append(claims, aud)
	claims = append(claims, '}')

	enc := base64.RawURLEncoding
	n := len(jwtHeaderHS256) + 1 + enc.EncodedLen(len(claims)) + 1 + enc.EncodedLen(32)
	out := make([]byte, 0, n)
	out = append(out, jwtHeaderHS256...)
	out = append(out, '.')
	out = enc.AppendEncode(out, claims)
	var sumBuf [32]byte
	sum := ks.sum(sumBuf[:0], out)
	out = append(out, '.')
	out = enc.AppendEncode(out, sum)
	return string(out)
}
