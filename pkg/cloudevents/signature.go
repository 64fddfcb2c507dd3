package cloudevents

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
)

// Sign returns the ce-signature value the service sends for connectionID:
// "sha256=<hex>" per key (lower-case hex of HMAC-SHA256 keyed with the UTF-8
// bytes of the access key string over the connection id), joined with ",".
// Empty keys are skipped; with no key it returns "".
func Sign(connectionID string, keys ...string) string {
	var b strings.Builder
	var sum [sha256.Size]byte
	var hx [2 * sha256.Size]byte
	for _, k := range keys {
		if k == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(k))
		m.Write([]byte(connectionID))
		m.Sum(sum[:0])
		hex.Encode(hx[:], sum[:])
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("sha256=")
		b.Write(hx[:])
	}
	return b.String()
}

// signatures remembers Sign's results for the service side, which signs
// every message of a connection again; at most maxCachedIDs, then it starts over.
var (
	signatures atomic.Pointer[sync.Map] // connection id + "\x00" + keys → signature
	signed     atomic.Int64
)

func signCached(connectionID string, keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	var kb strings.Builder
	kb.Grow(len(connectionID) + 1 + 64*len(keys))
	kb.WriteString(connectionID)
	for _, k := range keys {
		kb.WriteByte(0)
		kb.WriteString(k)
	}
	key := kb.String()
	m := signatures.Load()
	if m != nil {
		if v, ok := m.Load(key); ok {
			return v.(string)
		}
	}
	sig := Sign(connectionID, keys...)
	if m == nil || signed.Add(1) > maxCachedIDs {
		m = new(sync.Map)
		signatures.Store(m)
		signed.Store(1)
	}
	m.Store(key, sig)
	return sig
}

// verifier checks ce-signature values against a fixed set of keys. It keeps a
// pool of keyed HMACs per key so that a check allocates nothing.
type verifier struct {
	pools []*sync.Pool
	// cache remembers the expected MACs per connection id: every message of a
	// connection carries the same signature, and a map hit is far cheaper
	// than HMACs. It holds at most maxCachedIDs ids, then starts over.
	cache  atomic.Pointer[sync.Map] // connection id → *[]([sha256.Size]byte), one per key
	cached atomic.Int64
}

const maxCachedIDs = 4096

func newVerifier(keys []string) *verifier {
	v := &verifier{}
	for _, k := range keys {
		key := []byte(k)
		v.pools = append(v.pools, &sync.Pool{New: func() any {
			return &keyedMAC{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 64)}
		}})
	}
	return v
}

// keyedMAC is one pooled HMAC with a scratch buffer for its input and output.
type keyedMAC struct {
	h   hash.Hash
	buf []byte
}

// maxSignatureEntries bounds the work one request can cause; the service
// sends one entry per access key (two).
const maxSignatureEntries = 16

// verify reports whether any "sha256=<hex>" entry of sig (separated by "," or
// ", ", hex in either case) equals HMAC-SHA256(key, connectionID) for any key.
// Comparisons are constant-time.
func (v *verifier) verify(connectionID, sig string) bool {
	if sig == "" || len(v.pools) == 0 {
		return false
	}
	var entries [maxSignatureEntries][sha256.Size]byte
	n := 0
	for len(sig) > 0 && n < maxSignatureEntries {
		var entry string
		entry, sig, _ = strings.Cut(sig, ",")
		entry = strings.TrimSpace(entry)
		if len(entry) != len("sha256=")+2*sha256.Size || !strings.EqualFold(entry[:7], "sha256=") {
			continue
		}
		if decodeHex(entries[n][:], entry[7:]) {
			n++
		}
	}
	if n == 0 {
		return false
	}
	if macs := v.cachedMACs(connectionID); macs != nil {
		ok := false
		for _, want := range macs {
			for i := range n {
				if hmac.Equal(entries[i][:], want[:]) {
					ok = true
				}
			}
		}
		return ok
	}
	macs := make([][sha256.Size]byte, len(v.pools))
	for k, p := range v.pools {
		m := p.Get().(*keyedMAC)
		m.h.Reset()
		m.buf = append(m.buf[:0], connectionID...)
		m.h.Write(m.buf)
		m.buf = m.h.Sum(m.buf[:0])
		copy(macs[k][:], m.buf)
		if cap(m.buf) <= 1024 { // do not keep huge ids alive
			p.Put(m)
		}
	}
	ok := false
	for _, want := range macs {
		for i := range n {
			if hmac.Equal(entries[i][:], want[:]) {
				ok = true
			}
		}
	}
	if ok { // only ids the service really signed are remembered
		v.remember(connectionID, macs)
	}
	return ok
}

func (v *verifier) cachedMACs(connectionID string) [][sha256.Size]byte {
	m := v.cache.Load()
	if m == nil {
		return nil
	}
	if e, ok := m.Load(connectionID); ok {
		return e.([][sha256.Size]byte)
	}
	return nil
}

func (v *verifier) remember(connectionID string, macs [][sha256.Size]byte) {
	if len(connectionID) > 256 {
		return
	}
	m := v.cache.Load()
	if m == nil || v.cached.Add(1) > maxCachedIDs {
		m = new(sync.Map)
		v.cache.Store(m)
		v.cached.Store(1)
	}
	m.Store(connectionID, macs)
}

// decodeHex decodes the hex string s (either case) into dst, which must be
// exactly half its length, without allocating.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
