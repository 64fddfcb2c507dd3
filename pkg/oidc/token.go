package oidc

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// Token is a verified token. Its Claims are shared with the verifier's
// cache and with every other caller that presents the same token: read them,
// never modify them.
type Token struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time
	// Algorithm and KeyID are the header's alg and kid.
	Algorithm, KeyID string
	// Claims are all the token's claims, as encoding/json decodes them.
	Claims map[string]any
}

// String returns the claim name when it is a string, else "".
func (t *Token) String(name string) string {
	s, _ := t.Claims[name].(string)
	return s
}

// Strings returns the claim name as a list: an array's string elements, or
// a string split at spaces (the form of the scp claim).
func (t *Token) Strings(name string) []string {
	switch v := t.Claims[name].(type) {
	case string:
		return strings.Fields(v)
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

// tokenCache remembers verified tokens by their SHA-256 until they expire,
// at most max of them; a full cache first drops expired entries and then, if
// still full, starts over (bounded, and cheap for the common case of few
// long-lived tokens).
type tokenCache struct {
	max int
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*Token
}

func (c *tokenCache) get(raw string, now time.Time) *Token {
	if c.max <= 0 {
		return nil
	}
	k := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	t := c.m[k]
	c.mu.Unlock()
	if t == nil || !now.Before(t.Expiry) {
		return nil
	}
	return t
}

func (c *tokenCache) put(raw string, t *Token, now time.Time) {
	if c.max <= 0 || !now.Before(t.Expiry) {
		return
	}
	k := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]*Token)
	}
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.Expiry) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = t
}
