// Package idp is a small local identity provider: it holds signing keys
// generated at start (RS256 or ES256), rotates them on demand, mints JWTs
// with the current key and publishes every key that may still verify a
// token as a JWKS, with an OpenID Connect discovery document. The emulator
// serves it as its local Entra tenant and sign-in issuer; tests use it as
// the issuer the verifiers in pkg/oidc fetch keys from.
package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Alg is a signing algorithm the provider can use.
type Alg string

const (
	RS256 Alg = "RS256"
	ES256 Alg = "ES256"
)

// Provider holds the keys. It is safe for concurrent use.
type Provider struct {
	alg  Alg
	mu   sync.Mutex
	keys []*key // current first; older keys stay published until Retire
	n    int
}

type key struct {
	kid    string
	signer crypto.Signer
}

// New returns a provider with one fresh key for alg.
func New(alg Alg) (*Provider, error) {
	p := &Provider{alg: alg}
	if _, err := p.Rotate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Rotate makes a new current key and returns its kid; the previous keys stay
// in the key set, so tokens they signed keep verifying until Retire.
func (p *Provider) Rotate() (string, error) {
	var s crypto.Signer
	var err error
	switch p.alg {
	case RS256:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", fmt.Errorf("idp: unsupported algorithm %q", p.alg)
	}
	if err != nil {
		return "", fmt.Errorf("idp: generating a key: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	var rb [6]byte
	rand.Read(rb[:])
	k := &key{kid: fmt.Sprintf("k%d-%x", p.n, rb), signer: s}
	p.keys = append([]*key{k}, p.keys...)
	return k.kid, nil
}

// Retire removes every key but the current one from the key set.
func (p *Provider) Retire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = p.keys[:1]
}

// KeyID returns the current key's kid.
func (p *Provider) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0].kid
}

// PublicKey returns the current key's public half.
func (p *Provider) PublicKey() crypto.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0].signer.Public()
}

// Mint signs claims with the current key, its kid in the header.
func (p *Provider) Mint(claims jwt.Claims) (string, error) {
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	var m jwt.SigningMethod = jwt.SigningMethodRS256
	if p.alg == ES256 {
		m = jwt.SigningMethodES256
	}
	t := jwt.NewWithClaims(m, claims)
	t.Header["kid"] = k.kid
	return t.SignedString(k.signer)
}

// JWKS returns the public key set as JSON.
func (p *Provider) JWKS() ([]byte, error) {
	p.mu.Lock()
	keys := append([]*key(nil), p.keys...)
	p.mu.Unlock()
	set := jwkset.NewMemoryStorage()
	ctx := context.Background()
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.signer.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(p.alg), KID: k.kid, USE: jwkset.UseSig}})
		if err != nil {
			return nil, fmt.Errorf("idp: %w", err)
		}
		if err := set.KeyWrite(ctx, j); err != nil {
			return nil, fmt.Errorf("idp: %w", err)
		}
	}
	return set.JSONPublic(ctx)
}

// Discovery is the part of an OpenID Connect discovery document the
// provider publishes.
type Discovery struct {
	Issuer                 string   `json:"issuer"`
	JWKSURI                string   `json:"jwks_uri"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint          string   `json:"token_endpoint,omitempty"`
	ResponseTypes          []string `json:"response_types_supported"`
	SubjectTypes           []string `json:"subject_types_supported"`
	SigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported,omitempty"`
	TokenEndpointAuthMeths []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	GrantTypes             []string `json:"grant_types_supported,omitempty"`
}

// DiscoveryJSON returns the discovery document for an issuer whose key set
// is at jwksURI; authorize and token may be empty.
func (p *Provider) DiscoveryJSON(issuer, jwksURI, authorize, token string) ([]byte, error) {
	d := Discovery{Issuer: issuer, JWKSURI: jwksURI, AuthorizationEndpoint: authorize, TokenEndpoint: token,
		ResponseTypes: []string{"code"}, SubjectTypes: []string{"public"}, SigningAlgs: []string{string(p.alg)}}
	if authorize != "" {
		d.CodeChallengeMethods = []string{"S256"}
		d.TokenEndpointAuthMeths = []string{"none", "private_key_jwt"}
		d.GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
	}
	return json.Marshal(d)
}

// ErrClaims is returned by Access for an empty audience or subject.
var ErrClaims = errors.New("idp: audience and subject are required")

// Access mints an access token like Entra's v2 tokens: iss, aud, sub, oid,
// azp, tid, iat, nbf and exp lifetime from now, plus extra claims.
func (p *Provider) Access(issuer, tenant, audience, subject string, lifetime time.Duration, extra map[string]any) (string, time.Time, error) {
	if audience == "" || subject == "" {
		return "", time.Time{}, ErrClaims
	}
	now := time.Now()
	exp := now.Add(lifetime)
	c := jwt.MapClaims{"iss": issuer, "aud": audience, "sub": subject, "oid": subject, "azp": subject,
		"tid": tenant, "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "ver": "2.0"}
	for k, v := range extra {
		c[k] = v
	}
	tok, err := p.Mint(c)
	return tok, time.Unix(exp.Unix(), 0), err
}

// Signer returns the current key (tests forge tokens with another
// provider's key).
func (p *Provider) Signer() crypto.Signer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0].signer
}

// Keyfunc is a jwt.Keyfunc over the published keys, by kid.
func (p *Provider) Keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys {
		if k.kid == kid {
			return k.signer.Public(), nil
		}
	}
	return nil, fmt.Errorf("idp: unknown kid %q", kid)
}
