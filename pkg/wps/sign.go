package wps

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

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

// aadCache holds the last token from the azcore.TokenCredential.
type aadCache struct {
	mu      sync.Mutex
	auth    []string  // {"Bearer <token>"}, shared by requests (never modified)
	refresh time.Time // from then on a call asks the credential again
	expires time.Time // from then on the token is not used at all
	// fetch admits one GetToken at a time; a channel rather than mu so that
	// callers waiting behind a slow fetch still honour their contexts.
	fetch chan struct{}
	once  sync.Once
}

// tokenRefreshMargin is how long before its expiry an Entra token is
// replaced, as azcore's bearer-token policy does; expirySkew is how long
// before expiry a token is no longer sent even when a refresh failed, to
// allow for clock skew and the call's own duration.
const (
	tokenRefreshMargin = 5 * time.Minute
	expirySkew         = 30 * time.Second
)

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

// entraAuthorization returns the Authorization header value carrying a token
// from the credential, asking it only when the cached token is due for
// refresh. azcore's BearerTokenPolicy does the same inside an azcore
// pipeline, but that pipeline would replace this package's wire-exact
// request building (and refuses the emulator's http endpoint), so the cache
// is kept here.
func (c *Client) entraAuthorization(ctx context.Context) ([]string, error) {
	a := &c.aad
	if auth, fresh := a.cached(c.now()); fresh {
		return auth, nil
	}
	a.once.Do(func() { a.fetch = make(chan struct{}, 1) })
	select {
	case a.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.fetch }()
	now := c.now()
	old, fresh := a.cached(now)
	if fresh { // fetched while we waited
		return old, nil
	}
	tok, err := c.tc.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err == nil && tok.Token == "" {
		err = errors.New("the credential returned an empty token")
	}
	if err != nil {
		if old != nil { // still valid: keep working through a brief outage
			c.logger().WarnContext(ctx, "wps: refreshing the Entra ID token failed; using the current one until it expires", "err", err)
			return old, nil
		}
		return nil, fmt.Errorf("getting a token from the credential: %w", err)
	}
	auth := []string{"Bearer " + tok.Token}
	a.mu.Lock()
	a.auth, a.refresh, a.expires = auth, refreshTime(tok, now), tok.ExpiresOn.Add(-expirySkew)
	a.mu.Unlock()
	return auth, nil
}

// refreshTime is when tok, fetched at now, should be replaced: at its
// RefreshOn if the credential suggests one, else tokenRefreshMargin before
// it expires, but never before half its remaining life has passed, so a
// short-lived token is not fetched for every call. A token without an
// expiry is not reused.
func refreshTime(tok azcore.AccessToken, now time.Time) time.Time {
	if tok.ExpiresOn.IsZero() {
		return now
	}
	t := tok.ExpiresOn.Add(-tokenRefreshMargin)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(t) {
		t = tok.RefreshOn
	}
	if half := now.Add(tok.ExpiresOn.Sub(now) / 2); t.Before(half) {
		t = half
	}
	return t
}

// cached returns the cached Authorization value while it may still be sent
// at now, and whether it is not yet due for refresh.
func (a *aadCache) cached(now time.Time) (auth []string, fresh bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.auth == nil || !now.Before(a.expires) {
		return nil, false
	}
	return a.auth, now.Before(a.refresh)
}

// invalidate drops auth from the cache (the service refused it), so that the
// next call asks the credential again.
func (a *aadCache) invalidate(auth []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.auth) == 1 && len(auth) == 1 && a.auth[0] == auth[0] {
		a.auth = nil
	}
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
