package oidc

import (
	"hash/maphash"
	"strings"
	"testing"
	"time"
)

func TestTokenCacheBoundsAndExpiry(t *testing.T) {
	now := time.Now()
	t.Run("count", func(t *testing.T) {
		c := newTokenCache(3)
		for i := range 5 {
			c.put(strings.Repeat("t", 10+i), &Token{Expiry: now.Add(time.Hour)}, now)
		}
		if len(c.m) > 3 {
			t.Fatalf("%d entries, bound 3", len(c.m))
		}
	})
	t.Run("bytes", func(t *testing.T) {
		c := newTokenCache(1 << 20)
		big := strings.Repeat("x", maxCacheBytes/4)
		for i := range 6 {
			c.put(big+string(rune('a'+i)), &Token{Expiry: now.Add(time.Hour)}, now)
		}
		if c.bytes > maxCacheBytes {
			t.Fatalf("%d bytes cached, bound %d", c.bytes, maxCacheBytes)
		}
		sum := 0
		for _, e := range c.m {
			sum += len(e.raw)
		}
		if sum != c.bytes {
			t.Fatalf("bytes counted %d, held %d", c.bytes, sum)
		}
	})
	t.Run("dropped at exp", func(t *testing.T) {
		c := newTokenCache(10)
		tok := &Token{Expiry: now.Add(time.Minute)}
		c.put("tok", tok, now)
		if c.get("tok", now) != tok {
			t.Fatal("no hit before exp")
		}
		if c.get("tok", now.Add(time.Minute)) != nil || len(c.m) != 0 || c.bytes != 0 {
			t.Fatalf("an expired entry stays: %d entries, %d bytes", len(c.m), c.bytes)
		}
	})
	t.Run("a colliding key never answers another token", func(t *testing.T) {
		c := newTokenCache(10)
		c.put("real", &Token{Expiry: now.Add(time.Hour)}, now)
		// Plant the entry under the key of a token never verified.
		e := c.m[maphash.String(c.seed, "real")]
		c.m[maphash.String(c.seed, "forged")] = e
		if c.get("forged", now) != nil {
			t.Fatal("a token whose key matched got another token's claims")
		}
	})
}
