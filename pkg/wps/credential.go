package wps

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// Scope is the OAuth 2.0 scope a TokenCredential is asked for when a Client
// authenticates with Microsoft Entra ID.
const Scope = "https://webpubsub.azure.com/.default"

// Credential authenticates a Client's calls to the service. It is either a
// *KeyCredential (an access key from the connection string, which signs a
// short-lived JWT per call) or any TokenCredential (a Microsoft Entra ID
// identity). NewClient rejects anything else.
//
// Credential is deliberately an empty interface so that a TokenCredential from
// another module (for example an adapter around azidentity) satisfies it
// without this module depending on the Azure SDK.
type Credential any

// TokenCredential obtains OAuth 2.0 bearer tokens, for example from Microsoft
// Entra ID. It has the shape of the Azure SDK's credential, so an adapter of a
// few lines plugs azidentity in. The Client asks for Scope and caches the
// token until shortly before it expires.
type TokenCredential interface {
	GetToken(ctx context.Context, scopes []string) (AccessToken, error)
}

// AccessToken is a bearer token and the time it stops being valid.
type AccessToken struct {
	Token string
	// ExpiresOn is when Token expires. A zero ExpiresOn makes the Client ask
	// for a new token on every call.
	ExpiresOn time.Time
}

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
