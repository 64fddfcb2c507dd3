package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of the Config fields whose zero value means "the default".
const (
	DefaultLeeway             = time.Minute
	DefaultRefreshInterval    = time.Hour
	DefaultUnknownKeyInterval = 5 * time.Minute
	DefaultRetryInterval      = 30 * time.Second
	DefaultHTTPTimeout        = 10 * time.Second
	DefaultCacheSize          = 4096
	// MaxTokenBytes is the longest token looked at; longer ones are refused unread.
	MaxTokenBytes = 16 << 10
)

// DefaultAlgorithms are accepted when Config.Algorithms is empty.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// asymmetric are the algorithms a Verifier can accept: every one whose key
// is public. HMAC algorithms would make the public key the secret.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Config configures a Verifier. Issuer or JWKSURL, and Audiences (or
// AudienceClaim with Audiences), are required.
type Config struct {
	// Issuer is the provider's issuer URL. Unless JWKSURL is set, its
	// discovery document (Issuer + "/.well-known/openid-configuration") is
	// read on first use for jwks_uri; the document's issuer must equal Issuer
	// (a trailing slash aside) and is then the iss tokens must carry.
	Issuer string
	// JWKSURL is the key set's URL; when set, no discovery is made and
	// tokens' iss must equal Issuer or one of Issuers.
	JWKSURL string
	// Issuers are further iss values accepted (Entra's v1 issuer beside v2).
	Issuers []string
	// Tenants are the Entra tenant ids accepted when the issuer is the
	// multi-tenant template (…/{tenantid}/v2.0): the token's tid must be one
	// of them, and it is substituted into the template for the iss check.
	Tenants []string

	// Audiences: a token's aud (or AudienceClaim) must hold one of them.
	Audiences []string
	// AudienceClaim names the claim compared with Audiences instead of aud,
	// for tokens without aud (Cognito access tokens: "client_id"). Empty: aud.
	AudienceClaim string
	// Algorithms are the accepted alg values; empty means DefaultAlgorithms.
	// New refuses none and the HMAC algorithms.
	Algorithms []string
	// Leeway tolerates clock skew on exp, nbf and iat; zero means
	// DefaultLeeway, negative is refused.
	Leeway time.Duration
	// Check, when set, runs on every token whose signature and claims
	// verified, and refuses it with its error (whose text must be safe to
	// show the caller): pin the caller's oid, a role, a tenant. Its result is
	// cached with the token, so it must depend on the token only.
	Check func(*Token) error

	// RefreshInterval is how old the keys may grow before the next
	// verification fetches them again; zero means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// UnknownKeyInterval: a token with a kid not in the key set makes the
	// verifier fetch the key set again at most once per UnknownKeyInterval;
	// zero means DefaultUnknownKeyInterval.
	UnknownKeyInterval time.Duration
	// RetryInterval is how long a failed fetch is not repeated (cached keys
	// stay in use meanwhile); zero means DefaultRetryInterval.
	RetryInterval time.Duration
	// HTTPTimeout bounds each fetch; zero means DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// CacheSize bounds how many verified tokens are remembered until they
	// expire; zero means DefaultCacheSize, negative turns the cache off.
	CacheSize int
	// HTTPClient fetches discovery documents and keys; nil means a client of
	// its own. Responses are read up to 1 MiB.
	HTTPClient *http.Client
	// Logger receives a line when fetching keys fails; nil means slog.Default().
	Logger *slog.Logger
}

// Verifier verifies tokens of one issuer. It is safe for concurrent use and
// does no I/O until the first Verify.
type Verifier struct {
	cfg    Config
	keys   keySet
	cache  tokenCache
	parser *jwt.Parser
}

// New checks cfg and returns its Verifier.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, cache: newTokenCache(cfg.CacheSize)}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if cfg.AudienceClaim == "" {
		opts = append(opts, jwt.WithAudience(cfg.Audiences...))
	}
	v.parser = jwt.NewParser(opts...)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.HTTPTimeout}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limited := *hc
	limited.Transport = limitTransport{base}
	v.keys = keySet{cfg: &v.cfg, client: &limited, jwksURL: cfg.JWKSURL,
		limiter: rate.NewLimiter(rate.Every(cfg.UnknownKeyInterval), 1)}
	return v, nil
}

func (c *Config) setDefaults() error {
	if c.Issuer == "" && c.JWKSURL == "" {
		return errors.New("oidc: set Issuer (discovery) or JWKSURL")
	}
	for _, u := range []struct{ name, v string }{{"Issuer", c.Issuer}, {"JWKSURL", c.JWKSURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("oidc: %s %q is not an http(s) URL", u.name, u.v)
		}
	}
	if c.JWKSURL != "" && c.Issuer == "" && len(c.Issuers) == 0 {
		return errors.New("oidc: with JWKSURL, set Issuer or Issuers: the iss tokens must carry")
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		return errors.New("oidc: Audiences must name at least one non-empty audience")
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(asymmetric, a) {
			return fmt.Errorf("oidc: algorithm %q is not accepted (only asymmetric ones: %s)", a, strings.Join(asymmetric, ", "))
		}
	}
	durations := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"Leeway", &c.Leeway, DefaultLeeway},
		{"RefreshInterval", &c.RefreshInterval, DefaultRefreshInterval},
		{"UnknownKeyInterval", &c.UnknownKeyInterval, DefaultUnknownKeyInterval},
		{"RetryInterval", &c.RetryInterval, DefaultRetryInterval},
		{"HTTPTimeout", &c.HTTPTimeout, DefaultHTTPTimeout},
	}
	for _, d := range durations {
		if *d.p < 0 {
			return fmt.Errorf("oidc: %s is negative", d.name)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Verify checks raw (the bearer token, without "Bearer ") and returns its
// claims. A refusal is an *Error whose Reason is one safe line.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	switch {
	case raw == "":
		return nil, refuse("empty token")
	case len(raw) > MaxTokenBytes:
		return nil, refuse("token longer than 16 KiB")
	}
	now := time.Now()
	if t := v.cache.get(raw, now); t != nil {
		return t, nil
	}
	kf, err := v.keys.keyfunc(ctx)
	if err != nil {
		return nil, &Error{Reason: "the issuer's signing keys are unavailable", Err: err}
	}
	claims := jwt.MapClaims{}
	tok, err := v.parser.ParseWithClaims(raw, claims, kf.KeyfuncCtx(ctx))
	if err != nil {
		return nil, parseReason(err, tok, v.cfg.Algorithms)
	}
	t := &Token{Claims: claims, Expiry: now}
	t.Algorithm, _ = tok.Header["alg"].(string)
	t.KeyID, _ = tok.Header["kid"].(string)
	t.Issuer, _ = claims["iss"].(string)
	t.Subject, _ = claims["sub"].(string)
	t.Audience, _ = claims.GetAudience()
	if exp, _ := claims.GetExpirationTime(); exp != nil {
		t.Expiry = exp.Time
	}
	if e := v.checkIssuer(t); e != nil {
		return nil, e
	}
	if v.cfg.AudienceClaim != "" {
		if s := t.String(v.cfg.AudienceClaim); s == "" || !slices.Contains(v.cfg.Audiences, s) {
			return nil, refuse("token " + v.cfg.AudienceClaim + " claim not accepted")
		}
	}
	if v.cfg.Check != nil {
		if err := v.cfg.Check(t); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return nil, e
			}
			return nil, &Error{Reason: err.Error(), Err: err}
		}
	}
	v.cache.put(raw, t, now)
	return t, nil
}

// checkIssuer accepts the discovery document's issuer (or Issuer), the
// extra Issuers, and for Entra's multi-tenant template the template with
// the token's tid, when tid is among Tenants.
func (v *Verifier) checkIssuer(t *Token) *Error {
	if t.Issuer == "" {
		return refuse("token lacks the required iss claim")
	}
	main := v.keys.issuer
	if main == "" {
		main = v.cfg.Issuer
	}
	if t.Issuer == main || slices.Contains(v.cfg.Issuers, t.Issuer) {
		return nil
	}
	if strings.Contains(main, tenantTemplate) {
		tid := t.String("tid")
		if tid != "" && slices.Contains(v.cfg.Tenants, tid) && t.Issuer == strings.ReplaceAll(main, tenantTemplate, tid) {
			return nil
		}
		return refuse("token issuer " + quote(t.Issuer) + " or tenant not accepted")
	}
	return refuse("token issuer " + quote(t.Issuer) + " not accepted")
}
