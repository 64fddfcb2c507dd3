package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// maxDocumentBytes bounds a discovery document or key set read from the issuer.
const maxDocumentBytes = 1 << 20

// keySet is the issuer's current key set: the keyfunc built on the last
// successful fetch, replaced on the next successful one. A failed refresh
// keeps the old keys working, so an issuer outage only stops new keys.
type keySet struct {
	cfg     *Config
	client  *http.Client
	limiter *rate.Limiter // unknown-kid refetches, shared by every generation

	cur      atomic.Pointer[generation]
	mu       sync.Mutex // one fetch at a time
	jwksURL  string     // from JWKSURL or discovery
	issuer   string     // the discovery document's issuer ("" without discovery)
	failedAt time.Time  // last failed fetch: the next waits RetryInterval
}

type generation struct {
	kf      keyfunc.Keyfunc
	fetched time.Time
}

// keyfunc returns the keyfunc to verify with, fetching the keys first when
// there are none yet or they are older than RefreshInterval.
func (ks *keySet) keyfunc(ctx context.Context) (keyfunc.Keyfunc, error) {
	g := ks.cur.Load()
	now := time.Now()
	if g != nil && now.Sub(g.fetched) < ks.cfg.RefreshInterval {
		return g.kf, nil
	}
	if g != nil {
		// Stale: one caller refreshes, the others go on with the old keys.
		if !ks.mu.TryLock() {
			return g.kf, nil
		}
	} else {
		ks.mu.Lock()
	}
	defer ks.mu.Unlock()
	if g2 := ks.cur.Load(); g2 != g {
		return g2.kf, nil
	}
	if !ks.failedAt.IsZero() && now.Sub(ks.failedAt) < ks.cfg.RetryInterval {
		if g != nil {
			return g.kf, nil
		}
		return nil, fmt.Errorf("%w: the last fetch failed %s ago", ErrKeysUnavailable, now.Sub(ks.failedAt).Round(time.Millisecond))
	}
	kf, err := ks.fetch(ctx)
	if err != nil {
		ks.failedAt = now
		ks.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "oidc: fetching the issuer's keys failed; cached keys stay in use",
			slog.String("issuer", ks.cfg.Issuer), slog.String("jwks", ks.jwksURL), slog.String("err", err.Error()))
		if g != nil {
			return g.kf, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	ks.failedAt = time.Time{}
	ks.cur.Store(&generation{kf: kf, fetched: now})
	return kf, nil
}

// fetch discovers the key set's URL (once) and reads the key set.
func (ks *keySet) fetch(ctx context.Context) (keyfunc.Keyfunc, error) {
	if ks.jwksURL == "" {
		if err := ks.discover(ctx); err != nil {
			return nil, err
		}
	}
	store, err := jwkset.NewStorageFromHTTP(ks.jwksURL, jwkset.HTTPClientStorageOptions{
		Client:      ks.client,
		Ctx:         ctx,
		HTTPTimeout: ks.cfg.HTTPTimeout,
		// No RefreshInterval: no background goroutine; keyfunc refreshes.
	})
	if err != nil {
		return nil, err
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{ks.jwksURL: store},
		RefreshUnknownKID: ks.limiter,
		// A caller waits at most a second for the limiter, so an unknown kid
		// inside the interval is refused at once (the limiter refuses a
		// wait longer than the deadline without sleeping).
		RateLimitWaitMax: time.Second,
	})
	if err != nil {
		return nil, err
	}
	return keyfunc.New(keyfunc.Options{Ctx: context.Background(), Storage: client,
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
}

// discover reads Issuer's discovery document for its jwks_uri and issuer.
func (ks *keySet) discover(ctx context.Context) error {
	u := strings.TrimSuffix(ks.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, ks.cfg.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: GET %s: status %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentBytes)).Decode(&doc); err != nil {
		return fmt.Errorf("discovery: GET %s: %w", u, err)
	}
	switch {
	case strings.Contains(doc.Issuer, tenantTemplate):
		// Entra's /common and /organizations metadata: the issuer is a
		// template on the same host, checked per token against Tenants.
		if len(ks.cfg.Tenants) == 0 {
			return errors.New("discovery: the issuer is multi-tenant ({tenantid}); set Tenants to the tenants accepted")
		}
		if !sameOrigin(doc.Issuer, ks.cfg.Issuer) {
			return fmt.Errorf("discovery: the document at %s names issuer %q, on another host than %q", u, doc.Issuer, ks.cfg.Issuer)
		}
	case strings.TrimSuffix(doc.Issuer, "/") != strings.TrimSuffix(ks.cfg.Issuer, "/"):
		return fmt.Errorf("discovery: the document at %s names issuer %q, not %q", u, doc.Issuer, ks.cfg.Issuer)
	}
	j, err := url.Parse(doc.JWKSURI)
	if err != nil || (j.Scheme != "https" && j.Scheme != "http") || j.Host == "" {
		return fmt.Errorf("discovery: the document at %s has no valid jwks_uri", u)
	}
	ks.issuer, ks.jwksURL = doc.Issuer, doc.JWKSURI
	return nil
}

func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// tenantTemplate is the placeholder Entra's multi-tenant metadata puts in its issuer.
const tenantTemplate = "{tenantid}"

// limitedBody caps what a response body yields, so a hostile or broken key
// set endpoint cannot make the verifier read without bound.
type limitedBody struct {
	io.Reader
	io.Closer
}

type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp.Body = limitedBody{io.LimitReader(resp.Body, maxDocumentBytes), resp.Body}
	}
	return resp, err
}
