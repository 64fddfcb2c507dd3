package oidc

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
	"time"
	"unsafe"
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

// tokenCache remembers verified tokens until they expire, at most max of
// them and maxCacheBytes of token text. The hit path is a seeded maphash of
// the token, one map lookup and a constant-time compare with the stored
// token (so a hash collision can never return another token's claims); it
// allocates nothing. A full cache first drops expired entries and then, if
// still full, starts over (bounded, and cheap for the common case of few
// long-lived tokens). An expired entry is dropped when it is looked up.
type tokenCache struct {
	max   int
	seed  maphash.Seed
	mu    sync.Mutex
	m     map[uint64]cacheEntry
	bytes int // of the stored tokens
}

type cacheEntry struct {
	raw string
	t   *Token
}

// maxCacheBytes bounds the token text a cache holds (with the default 4096
// entries, 2 KiB per token on average).
const maxCacheBytes = 8 << 20

func newTokenCache(max int) tokenCache { return tokenCache{max: max, seed: maphash.MakeSeed()} }

func (c *tokenCache) get(raw string, now time.Time) *Token {
	if c.max <= 0 {
		return nil
	}
	k := maphash.String(c.seed, raw)
	c.mu.Lock()
	e, ok := c.m[k]
	if ok && !now.Before(e.t.Expiry) {
		c.drop(k, e)
		ok = false
	}
	c.mu.Unlock()
	if !ok || !sameToken(e.raw, raw) {
		return nil
	}
	return e.t
}

func (c *tokenCache) put(raw string, t *Token, now time.Time) {
	if c.max <= 0 || !now.Before(t.Expiry) || len(raw) > maxCacheBytes {
		return
	}
	k := maphash.String(c.seed, raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[uint64]cacheEntry)
	}
	if old, ok := c.m[k]; ok {
		c.drop(k, old)
	}
	if len(c.m) >= c.max || c.bytes+len(raw) > maxCacheBytes {
		for k, v := range c.m {
			if !now.Before(v.t.Expiry) {
				c.drop(k, v)
			}
		}
		if len(c.m) >= c.max || c.bytes+len(raw) > maxCacheBytes {
			clear(c.m)
			c.bytes = 0
		}
	}
	c.m[k] = cacheEntry{raw: raw, t: t}
	c.bytes += len(raw)
}

// drop removes entry k (held: c.mu).
func (c *tokenCache) drop(k uint64, e cacheEntry) {
	delete(c.m, k)
	c.bytes -= len(e.raw)
}

// sameToken compares two tokens in constant time for their length, without
// copying them. It works a word at a time: subtle.ConstantTimeCompare goes
// byte by byte, which was most of a cached verification's cost for a
// 1.5 KB token. No branch depends on the bytes.
func sameToken(a, b string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	x, y := unsafe.Slice(unsafe.StringData(a), len(a)), unsafe.Slice(unsafe.StringData(b), len(b))
	var diff uint64
	i := 0
	for ; i+8 <= len(x); i += 8 {
		diff |= binary.LittleEndian.Uint64(x[i:]) ^ binary.LittleEndian.Uint64(y[i:])
	}
	for ; i < len(x); i++ {
		diff |= uint64(x[i] ^ y[i])
	}
	return diff == 0
}
