package wps

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
)

// Scope is the OAuth 2.0 scope a Client asks its azcore.TokenCredential for
// when it authenticates with Microsoft Entra ID.
const Scope = "https://webpubsub.azure.com/.default"

// KeyCredential is an access key of a Web PubSub resource. It is safe for
// concurrent use, and Update rotates the key while calls are in flight: calls
// started after Update sign with the new key.
type KeyCredential struct {
	k atomic.Pointer[keyState]
}

// keyState is one key with a pool of HMAC hashes keyed with it; a new keyState
// per Update lets caches notice a rotation by pointer comparison.
type keyState struct {
	key  string
	macs sync.Pool
}

func newKeyState(key string) *keyState {
	ks := &keyState{key: key}
	ks.macs.New = func() any { return hmac.New(sha256.New, []byte(key)) }
	return ks
}

// sum returns HMAC-SHA256(key, msg) appended to dst.
func (ks *keyState) sum(dst, msg []byte) []byte {
	h := ks.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	dst = h.Sum(dst)
	ks.macs.Put(h)
	return dst
}

var errEmptyKey = errors.New("wps: access key is empty")

// NewKeyCredential returns a credential for key, the AccessKey of a connection
// string. The key's ASCII bytes are used as the HMAC key, as the service does.
func NewKeyCredential(key string) *KeyCredential {
	c := &KeyCredential{}
	c.k.Store(newKeyState(key))
	return c
}

// Update replaces the key, for key rotation.
func (c *KeyCredential) Update(key string) {
	c.k.Store(newKeyState(key))
}

// Key returns the current key. Do not log it.
func (c *KeyCredential) Key() string {
	if ks := c.state(); ks != nil {
		return ks.key
	}
	return ""
}

func (c *KeyCredential) state() *keyState {
	if c == nil {
		return nil
	}
	return c.k.Load()
}
