package relay

import (
	"sync"
	"time"
)

// seenOverhead is the memory one remembered id costs beyond its bytes: a
// map entry (key header, value, bucket share) and a queue slot.
const seenOverhead = 80

// verdict is what the window says of a delivery.
type verdict int

const (
	fresh    verdict = iota // never seen (or forgotten): handle it
	seen                    // handled within the window: drop it
	inFlight                // another delivery of it is being handled now
)

// window remembers the ids of handled messages for a while, bounded in
// count and bytes (the oldest are forgotten first), plus the ids being
// handled right now. It is exact within one process: two deliveries of one
// id never both get fresh while the first is in flight or remembered.
type window struct {
	ttl      time.Duration
	maxIDs   int
	maxBytes int64
	now      func() time.Time

	mu       sync.Mutex
	done     map[string]int64 // id → when it expires (unix ns)
	inflight map[string]struct{}
	queue    []queued // done ids in the order they were added (so by expiry)
	head     int
	bytes    int64
}

type queued struct {
	id      string
	expires int64
}

func newWindow(ttl time.Duration, maxIDs int, maxBytes int64) *window {
	return &window{ttl: ttl, maxIDs: maxIDs, maxBytes: maxBytes, now: time.Now,
		done: map[string]int64{}, inflight: map[string]struct{}{}}
}

// begin reports what to do with a delivery of id; on fresh, the caller
// must end it with finish or abort.
func (w *window) begin(id string) verdict {
	now := w.now().UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(now)
	if exp, ok := w.done[id]; ok && exp > now {
		return seen
	}
	if _, ok := w.inflight[id]; ok {
		return inFlight
	}
	w.inflight[id] = struct{}{}
	return fresh
}

// finish remembers id as handled.
func (w *window) finish(id string) {
	now := w.now().UnixNano()
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.inflight, id)
	if _, ok := w.done[id]; !ok {
		w.bytes += int64(len(id)) + seenOverhead
	}
	exp := now + int64(w.ttl)
	w.done[id] = exp
	w.queue = append(w.queue, queued{id, exp})
	w.expire(now)
}

// abort forgets a delivery that failed, so the redelivery is handled.
func (w *window) abort(id string) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

// expire drops expired ids and then the oldest until the bounds hold.
func (w *window) expire(now int64) {
	for w.head < len(w.queue) {
		q := w.queue[w.head]
		over := len(w.done) > w.maxIDs || w.bytes > w.maxBytes
		if q.expires > now && !over {
			break
		}
		// A later finish of the same id re-queued it: only the last entry counts.
		if exp, ok := w.done[q.id]; ok && exp == q.expires {
			delete(w.done, q.id)
			w.bytes -= int64(len(q.id)) + seenOverhead
		}
		w.queue[w.head] = queued{}
		w.head++
	}
	// Compact once the dead prefix is half the queue.
	if w.head > 1024 && w.head*2 > len(w.queue) {
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue = w.queue[:n]
		w.head = 0
	}
}

// size is the number of remembered ids and their counted bytes.
func (w *window) size() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.done), w.bytes
}
