package cloudevents

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
)

// Keys is a set of Web PubSub access keys that can be replaced while it is
// in use: the event handler checks ce-signature against it (Keys is an
// Authenticator) and the service side signs with it (Sign). It is safe for
// concurrent use; the zero value holds no key, which verifies nothing.
//
// Rotation follows the service's: add the new key as secondary, regenerate
// the primary, drop the old one. After Set returns, a request signed with a
// new key is accepted and one signed only with a removed key is refused.
type Keys struct {
	cur atomic.Pointer[keySet]
}

// keySet is one generation of keys with its verifier and signature cache;
// Set replaces it whole, so a removed key's cached MACs go with it.
type keySet struct {
	keys []string
	v    *verifier
	sigs [maxCachedIDs]atomic.Pointer[sigEntry] // direct-mapped, like the verifier's cache
}

type sigEntry struct{ id, sig string }

// NewKeys returns Keys holding keys (see Set).
func NewKeys(keys ...string) *Keys {
	k := &Keys{}
	k.Set(keys...)
	return k
}

// Set replaces the keys, typically the primary and the secondary key. Empty
// strings are skipped; Set() removes every key.
func (k *Keys) Set(keys ...string) {
	s := &keySet{}
	for _, key := range keys {
		if key != "" {
			s.keys = append(s.keys, key)
		}
	}
	s.v = newVerifier(s.keys)
	k.cur.Store(s)
}

// Len is the number of keys held.
func (k *Keys) Len() int {
	if s := k.load(); s != nil {
		return len(s.keys)
	}
	return 0
}

func (k *Keys) load() *keySet {
	if k == nil {
		return nil
	}
	return k.cur.Load()
}

// Sign returns the ce-signature value for connectionID with the current
// keys, as Sign(connectionID, keys...) does, or "" when k holds no key. The
// service signs every event of a connection alike, so results are cached.
func (k *Keys) Sign(connectionID string) string {
	s := k.load()
	if s == nil || len(s.keys) == 0 {
		return ""
	}
	if len(connectionID) > maxCachedIDLen {
		return Sign(connectionID, s.keys...)
	}
	slot := &s.sigs[s.v.slot(connectionID)]
	if e := slot.Load(); e != nil && e.id == connectionID {
		return e.sig
	}
	macs := s.v.macs(connectionID)
	var b strings.Builder
	b.Grow(len(macs) * (len("sha256=,") + 2*sha256.Size))
	var hx [2 * sha256.Size]byte
	for i := range macs {
		if i > 0 {
			b.WriteByte(',')
		}
		hex.Encode(hx[:], macs[i][:])
		b.WriteString("sha256=")
		b.Write(hx[:])
	}
	sig := b.String()
	slot.Store(&sigEntry{id: connectionID, sig: sig})
	return sig
}

// The refusals of Keys.Authenticate, each answered with 401.
var (
	ErrMissingSignature = errors.New("missing ce-signature header")
	ErrBadSignature     = errors.New("ce-signature does not match any access key")
	ErrNoKeys           = errors.New("no access key is configured to verify ce-signature")
)

// Authenticate checks the request's ce-signature against the current keys:
// one of its sha256= entries must be HMAC-SHA256(key, ce-connectionId) for
// one of them. Comparisons are constant-time, and a connection's expected
// MACs are cached, so that a connection's later events cost no HMAC.
func (k *Keys) Authenticate(r *http.Request) error {
	s := k.load()
	if s == nil || len(s.keys) == 0 {
		return ErrNoKeys
	}
	sigs := r.Header[HeaderSignature]
	if len(sigs) == 0 {
		return ErrMissingSignature
	}
	id := header(r.Header, HeaderConnectionID)
	for _, sig := range sigs {
		if s.v.verify(id, sig) {
			return nil
		}
	}
	return ErrBadSignature
}
