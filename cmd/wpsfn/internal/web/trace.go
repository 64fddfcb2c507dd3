package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wpsfn/wpsfn/internal/emulator"
)

// Trace batches the emulator's trace events for the live trace page and
// streams them to browsers as Server-Sent Events. Publish is cheap and never
// blocks: events are buffered and flushed to every subscriber as one batch
// per FlushInterval, sorted by when they started; beyond MaxBatch events per
// interval the rest are counted as dropped, so a flood of thousands of
// events per second costs the browser at most one bounded message every
// 100 ms.
//
// The last HistoryEvents events (at most HistoryBytes) are kept, whether or
// not anyone watches: a page opened late first gets them as its "history"
// event, and the whole frame or request of a kept event is served at
// /trace/events/{id} when the page asks for it (batches carry summaries).
//
// The zero value is ready to use; set the fields before the first call.
type Trace struct {
	// FlushInterval is how often buffered events are sent; default 100 ms.
	FlushInterval time.Duration
	// MaxBatch bounds the events sent per interval; default 1000 (10,000
	// events/s at the default interval: more than a person can read, and
	// what a browser renders without stalling).
	MaxBatch int
	// HistoryEvents and HistoryBytes bound the kept history; defaults 5000
	// events and 8 MiB (summaries and details counted).
	HistoryEvents int
	HistoryBytes  int
	// Snapshot, when set, is sent to subscribers every SnapshotInterval
	// (default 1 s) and when they subscribe.
	Snapshot         func() emulator.Snapshot
	SnapshotInterval time.Duration
	// Logger receives one line per failed stream; default slog.Default().
	Logger *slog.Logger

	nsubs   atomic.Int32
	total   atomic.Uint64
	mu      sync.Mutex
	buf     []wireEvent
	dropped uint64
	ids     uint64
	hist    []kept // oldest first, sorted by start time
	histLen int    // bytes held by hist
	subs    map[*subscriber]struct{}
	running bool
	seq     uint64
	closed  chan struct{} // closed by Close; created lazily under mu
}

// kept is one event of the history, with its detail.
type kept struct {
	ev     wireEvent
	detail string
	size   int
}

// subscriber is one open event stream.
type subscriber struct {
	ch     chan []byte
	missed atomic.Uint64 // batches this subscriber could not keep up with
}

func (t *Trace) flushInterval() time.Duration {
	if t.FlushInterval > 0 {
		return t.FlushInterval
	}
	return 100 * time.Millisecond
}

func (t *Trace) maxBatch() int {
	if t.MaxBatch > 0 {
		return t.MaxBatch
	}
	return 1000
}

func (t *Trace) historyEvents() int {
	if t.HistoryEvents > 0 {
		return t.HistoryEvents
	}
	return 5000
}

func (t *Trace) historyBytes() int {
	if t.HistoryBytes > 0 {
		return t.HistoryBytes
	}
	return 8 << 20
}

func (t *Trace) snapshotInterval() time.Duration {
	if t.SnapshotInterval > 0 {
		return t.SnapshotInterval
	}
	return time.Second
}

// Subscribers reports how many streams are open.
func (t *Trace) Subscribers() int { return int(t.nsubs.Load()) }

// Publish records ev in the history and for the next batch. It is safe for
// concurrent use; the emulator has already redacted ev.
func (t *Trace) Publish(ev emulator.TraceEvent) {
	t.total.Add(1)
	w := wireEvent{
		T: float64(ev.Time.UnixMicro()) / 1000, K: ev.Kind, H: ev.Hub, C: ev.ConnectionID,
		U: ev.UserID, G: ev.Group, S: ev.Summary, St: ev.Status,
		L: float64(ev.Latency.Microseconds()) / 1000, D: ev.Detail != "",
	}
	size := 96 + len(w.K) + len(w.H) + len(w.C) + len(w.U) + len(w.G) + len(w.S) + len(ev.Detail)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ids++
	w.ID = t.ids
	t.remember(kept{ev: w, detail: ev.Detail, size: size})
	if len(t.subs) == 0 {
		return
	}
	if len(t.buf) < t.maxBatch() {
		t.buf = append(t.buf, w)
	} else {
		t.dropped++
	}
}

// remember inserts k into the history by start time (events are published
// when they end, so a long call lands before shorter ones that began later)
// and evicts the oldest beyond the bounds. Called with mu held.
func (t *Trace) remember(k kept) {
	i := len(t.hist)
	for i > 0 && t.hist[i-1].ev.T > k.ev.T {
		i--
	}
	t.hist = slices.Insert(t.hist, i, k)
	t.histLen += k.size
	drop := 0
	for len(t.hist)-drop > t.historyEvents() || (t.histLen > t.historyBytes() && len(t.hist)-drop > 1) {
		t.histLen -= t.hist[drop].size
		drop++
	}
	if drop > 0 {
		// Amortised: shift once the dead prefix is as long as the live part.
		clear(t.hist[:drop])
		t.hist = t.hist[drop:]
		if cap(t.hist) > 2*t.historyEvents() {
			t.hist = slices.Clone(t.hist)
		}
	}
}

// wireEvent is an event as the page reads it: short keys, times in ms.
type wireEvent struct {
	ID uint64  `json:"id"`
	T  float64 `json:"t"` // start, unix ms
	K  string  `json:"k"`
	H  string  `json:"h,omitempty"`
	C  string  `json:"c,omitempty"`
	U  string  `json:"u,omitempty"`
	G  string  `json:"g,omitempty"`
	S  string  `json:"s,omitempty"`
	St int     `json:"st,omitempty"`
	L  float64 `json:"l,omitempty"` // duration in ms
	D  bool    `json:"d,omitempty"` // a detail is served at /trace/events/{id}
}

// Batch is one flush as sent on the wire (SSE event "batch").
type Batch struct {
	Seq     uint64      `json:"seq"`
	At      float64     `json:"at"` // flush time, unix ms (for rates independent of network jitter)
	Events  []wireEvent `json:"events"`
	Dropped uint64      `json:"dropped"` // events not sent in this interval (over MaxBatch)
	Missed  uint64      `json:"missed"`  // earlier batches this stream lost (slow reader)
	Total   uint64      `json:"total"`   // events published since start
}

// done returns the channel Close closes.
func (t *Trace) done() chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed == nil {
		t.closed = make(chan struct{})
	}
	return t.closed
}

// Close ends every open stream (so an http.Server can shut down without
// waiting for them) and refuses new ones with 503.
func (t *Trace) Close() {
	ch := t.done()
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// subscribe registers a stream and returns, as one SSE "history" event (a
// Batch), the kept events: taken under the same lock, so none is both in
// the history and in the stream's first batch.
func (t *Trace) subscribe() (*subscriber, []byte) {
	s := &subscriber{ch: make(chan []byte, 32)}
	t.mu.Lock()
	hist := make([]wireEvent, len(t.hist))
	for i, k := range t.hist {
		hist[i] = k.ev
	}
	if t.subs == nil {
		t.subs = make(map[*subscriber]struct{})
	}
	t.subs[s] = struct{}{}
	t.nsubs.Add(1)
	if !t.running {
		t.running = true
		go t.loop()
	}
	t.mu.Unlock()
	msg, _ := json.Marshal(Batch{Events: hist, Total: t.total.Load()})
	return s, sse("history", msg)
}

// ServeDetail answers GET /trace/events/{id}: the whole (redacted) frame,
// request or answer of a kept event, as text.
func (t *Trace) ServeDetail(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "the event id is not a number", http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	i, found := slices.BinarySearchFunc(t.hist, id, func(k kept, id uint64) int { return cmp.Compare(k.ev.ID, id) })
	var detail string
	if !found {
		// The history is sorted by start time, which is nearly id order.
		for j := range t.hist {
			if t.hist[j].ev.ID == id {
				i, found = j, true
				break
			}
		}
	}
	if found {
		detail = t.hist[i].detail
	}
	n := len(t.hist)
	t.mu.Unlock()
	if !found {
		http.Error(w, fmt.Sprintf("event %d is no longer kept (the trace keeps the last %d events)", id, n), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, detail)
}

func (t *Trace) unsubscribe(s *subscriber) {
	t.mu.Lock()
	delete(t.subs, s)
	t.nsubs.Add(-1)
	t.mu.Unlock()
}

// loop flushes batches while anyone is subscribed, then exits.
func (t *Trace) loop() {
	flush := time.NewTicker(t.flushInterval())
	defer flush.Stop()
	snap := time.NewTicker(t.snapshotInterval())
	defer snap.Stop()
	for {
		select {
		case <-flush.C:
			if !t.flushOnce() {
				return
			}
		case <-snap.C:
			if t.Snapshot != nil {
				t.broadcast(t.snapshotMessage())
			}
		}
	}
}

// flushOnce sends the buffered events; it reports false (and marks the loop
// stopped) when nobody is subscribed any more.
func (t *Trace) flushOnce() bool {
	t.mu.Lock()
	if len(t.subs) == 0 {
		t.running = false
		t.buf, t.dropped = nil, 0
		t.mu.Unlock()
		return false
	}
	evs, dropped := t.buf, t.dropped
	t.buf, t.dropped = make([]wireEvent, 0, len(evs)), 0
	t.seq++
	seq := t.seq
	at := float64(time.Now().UnixMicro()) / 1000
	subs := make([]*subscriber, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	if len(evs) == 0 && dropped == 0 {
		return true
	}
	wire := evs
	slices.SortStableFunc(wire, func(a, b wireEvent) int { return cmp.Compare(a.T, b.T) })
	for _, s := range subs {
		b := Batch{Seq: seq, At: at, Events: wire, Dropped: dropped, Missed: s.missed.Load(), Total: t.total.Load()}
		msg, err := json.Marshal(b)
		if err != nil {
			continue // cannot happen for these types
		}
		t.send(s, sse("batch", msg))
	}
	return true
}

func (t *Trace) send(s *subscriber, msg []byte) {
	select {
	case s.ch <- msg:
	default:
		s.missed.Add(1)
	}
}

func (t *Trace) broadcast(msg []byte) {
	t.mu.Lock()
	subs := make([]*subscriber, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	for _, s := range subs {
		t.send(s, msg)
	}
}

func (t *Trace) snapshotMessage() []byte {
	b, err := json.Marshal(t.Snapshot())
	if err != nil {
		return nil
	}
	return sse("snapshot", b)
}

func sse(event string, data []byte) []byte {
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data)
}

// ServeHTTP streams batches (SSE event "batch", a Batch as JSON) and
// snapshots (SSE event "snapshot", a Snapshot as JSON) until the client goes.
func (t *Trace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	closed := t.done()
	select {
	case <-closed:
		http.Error(w, "trace stream closed: the server is shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s, history := t.subscribe()
	defer t.unsubscribe(s)
	hello := []byte(": wpsfn trace\nretry: 1000\n\n")
	hello = append(hello, history...)
	if t.Snapshot != nil {
		hello = append(hello, t.snapshotMessage()...)
	}
	if _, err := w.Write(hello); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		t.logger().Warn("trace stream cannot flush", "err", err)
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return
		case <-closed:
			return
		case msg = <-s.ch:
		case <-keepAlive.C:
			msg = []byte(": ping\n\n")
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (t *Trace) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}
