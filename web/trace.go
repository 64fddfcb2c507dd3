package web

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one entry of the live trace: a client frame, an upstream call, a
// REST call, or a connection or group change. It mirrors the emulator's trace
// event so this package does not depend on the emulator.
type Event struct {
	Time         time.Time
	Kind         string // "frame-in", "frame-out", "upstream", "rest", "connected", ...
	Hub          string
	ConnectionID string
	UserID       string
	Group        string
	Summary      string // one short line; never a key or token
	Status       int
	Latency      time.Duration
}

// Snapshot is the state the trace page shows beside the stream: every hub's
// connections and groups.
type Snapshot struct {
	Hubs []HubSnapshot `json:"hubs"`
}

// HubSnapshot is one hub's connections and groups.
type HubSnapshot struct {
	Name        string               `json:"name"`
	Connections []ConnectionSnapshot `json:"connections"`
	Groups      []GroupSnapshot      `json:"groups"`
}

// ConnectionSnapshot is one client connection.
type ConnectionSnapshot struct {
	ID       string   `json:"id"`
	UserID   string   `json:"userId,omitempty"`
	Protocol string   `json:"protocol,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// GroupSnapshot is one group and the connections in it.
type GroupSnapshot struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Trace batches trace events for the live trace page and streams them to
// browsers as Server-Sent Events. Publish is cheap and never blocks: events
// are buffered and flushed to every subscriber as one batch per
// FlushInterval; beyond MaxBatch events per interval the rest are counted as
// dropped, so a flood of thousands of events per second costs the browser at
// most one bounded message every 100 ms.
//
// The zero value is ready to use; set the fields before the first call.
type Trace struct {
	// FlushInterval is how often buffered events are sent; default 100 ms.
	FlushInterval time.Duration
	// MaxBatch bounds the events sent per interval; default 1000 (10,000
	// events/s at the default interval: more than a person can read, and
	// what a browser renders without stalling).
	MaxBatch int
	// Snapshot, when set, is sent to subscribers every SnapshotInterval
	// (default 1 s) and when they subscribe.
	Snapshot         func() Snapshot
	SnapshotInterval time.Duration
	// Logger receives one line per failed stream; default slog.Default().
	Logger *slog.Logger

	nsubs   atomic.Int32
	total   atomic.Uint64
	mu      sync.Mutex
	buf     []Event
	dropped uint64
	subs    map[*subscriber]struct{}
	running bool
	seq     uint64
	closed  chan struct{} // closed by Close; created lazily under mu
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

func (t *Trace) snapshotInterval() time.Duration {
	if t.SnapshotInterval > 0 {
		return t.SnapshotInterval
	}
	return time.Second
}

// Subscribers reports how many streams are open.
func (t *Trace) Subscribers() int { return int(t.nsubs.Load()) }

// Publish records ev for the next batch. It is safe for concurrent use and
// costs one atomic load when nobody is watching.
func (t *Trace) Publish(ev Event) {
	t.total.Add(1)
	if t.nsubs.Load() == 0 {
		return
	}
	t.mu.Lock()
	if len(t.buf) < t.maxBatch() {
		t.buf = append(t.buf, ev)
	} else {
		t.dropped++
	}
	t.mu.Unlock()
}

// wireEvent is Event as the page reads it: short keys, times in ms.
type wireEvent struct {
	T  float64 `json:"t"` // unix ms
	K  string  `json:"k"`
	H  string  `json:"h,omitempty"`
	C  string  `json:"c,omitempty"`
	U  string  `json:"u,omitempty"`
	G  string  `json:"g,omitempty"`
	S  string  `json:"s,omitempty"`
	St int     `json:"st,omitempty"`
	L  float64 `json:"l,omitempty"` // latency in ms
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

func (t *Trace) subscribe() *subscriber {
	s := &subscriber{ch: make(chan []byte, 32)}
	t.mu.Lock()
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
	return s
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
	t.buf, t.dropped = make([]Event, 0, len(evs)), 0
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
	wire := make([]wireEvent, len(evs))
	for i, e := range evs {
		wire[i] = wireEvent{
			T: float64(e.Time.UnixMicro()) / 1000, K: e.Kind, H: e.Hub, C: e.ConnectionID,
			U: e.UserID, G: e.Group, S: e.Summary, St: e.Status,
			L: float64(e.Latency.Microseconds()) / 1000,
		}
	}
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
	s := t.subscribe()
	defer t.unsubscribe(s)
	hello := []byte(": wpsfn trace\nretry: 1000\n\n")
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
