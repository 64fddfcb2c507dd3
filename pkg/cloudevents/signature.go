package cloudevents

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"hash/maphash"
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

// verifier checks ce-signature values against a fixed set of keys (one
// generation of a Keys). It keeps a
// pool of keyed HMACs per key so that a check allocates nothing.
type verifier struct {
	pools []*sync.Pool
	// cache remembers the expected MACs per connection id: every message of a
	// connection carries the same signature, and a cache hit is far cheaper
	// than HMACs. It is direct-mapped (a new id replaces whatever shared its
	// slot), so it never holds more than maxCachedIDs ids and remembering one
	// costs a single allocation.
	seed  maphash.Seed
	cache [maxCachedIDs]atomic.Pointer[macEntry]
}

// maxCachedIDs is the number of slots of a verifier's cache (a power of two).
const maxCachedIDs = 4096

// maxCachedIDLen bounds the connection ids cached: the service's are short.
const maxCachedIDLen = 256

// macEntry is one remembered connection id with its MACs, one per key.
type macEntry struct {
	id     string
	macs   [][sha256.Size]byte
	inline [2][sha256.Size]byte // backs macs for up to two keys
}

func newVerifier(keys []string) *verifier {
	v := &verifier{seed: maphash.MakeSeed()}
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
	slot := &v.cache[v.slot(connectionID)]
	if e := slot.Load(); e != nil && e.id == connectionID {
		return anyEqual(entries[:n], e.macs)
	}
	var stack [4][sha256.Size]byte
	macs := v.compute(stack[:0], connectionID)
	ok := anyEqual(entries[:n], macs)
	if ok && len(connectionID) <= maxCachedIDLen { // only ids the service really signed are remembered
		v.remember(slot, connectionID, macs)
	}
	return ok
}

// slot is connectionID's index in a cache of maxCachedIDs entries.
func (v *verifier) slot(connectionID string) uint64 {
	return maphash.String(v.seed, connectionID) & (maxCachedIDs - 1)
}

// macs returns HMAC-SHA256(key, connectionID) for every key, from the cache
// when it holds them (and caching them otherwise).
func (v *verifier) macs(connectionID string) [][sha256.Size]byte {
	slot := &v.cache[v.slot(connectionID)]
	if e := slot.Load(); e != nil && e.id == connectionID {
		return e.macs
	}
	macs := v.compute(nil, connectionID)
	if len(connectionID) <= maxCachedIDLen {
		v.remember(slot, connectionID, macs)
	}
	return macs
}

// compute appends HMAC-SHA256(key, connectionID) for every key to macs.
func (v *verifier) compute(macs [][sha256.Size]byte, connectionID string) [][sha256.Size]byte {
	if cap(macs) < len(v.pools) {
		macs = make([][sha256.Size]byte, 0, len(v.pools))
	}
	for _, p := range v.pools {
		m := p.Get().(*keyedMAC)
		m.h.Reset()
		m.buf = append(m.buf[:0], connectionID...)
		m.h.Write(m.buf)
		m.buf = m.h.Sum(m.buf[:0])
		macs = append(macs, [sha256.Size]byte(m.buf))
		if cap(m.buf) <= 1024 { // do not keep huge ids alive
			p.Put(m)
		}
	}
	return macs
}

// remember stores connectionID's MACs in its cache slot, in one allocation.
func (v *verifier) remember(slot *atomic.Pointer[macEntry], connectionID string, macs [][sha256.Size]byte) {
	e := &macEntry{id: connectionID}
	e.macs = e.inline[:0]
	e.macs = append(e.macs, macs...)
	slot.Store(e)
}

// anyEqual reports whether any of got equals any of want, comparing every
// pair in constant time.
func anyEqual(got, want [][sha256.Size]byte) bool {
	ok := 0
	for i := range want {
		for j := range got {
			ok |= subtle.ConstantTimeCompare(got[j][:], want[i][:])
		}
	}
	return ok == 1
}

// decodeHex decodes the hex string s (either case) into dst, which must be
// exactly half its length, without allocating.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	bad := byte(0)
	for i := range dst {
		hi, lo := hexValues[s[2*i]], hexValues[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0x0f
	}
	return bad&0xf0 == 0
}

// hexValues maps a hex digit (either case) to its value, anything else to 0xff.
var hexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()
