package emulator

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// protocol is a connection's client protocol.
type protocol uint8

const (
	protoRaw protocol = iota
	protoJSON
	protoReliable
	protoMQTT // MQTT 3.1.1 or 5.0 over WebSocket (mqtt.go); conn.mq is set
)

// Subprotocol names.
const (
	SubprotocolJSON         = "json.webpubsub.azure.v1"
	SubprotocolJSONReliable = "json.reliable.webpubsub.azure.v1"
)

// Limits of reliable connections (the client spec's buffer).
const (
	reliableMaxUnacked      = 1000
	reliableMaxUnackedBytes = 16 << 20
	writeTimeout            = 10 * time.Second
	maxRememberedAckIDs     = 1 << 16
)

// closeReason says why a connection ends.
type closeReason struct {
	code   websocket.StatusCode
	reason string // the disconnected message / upstream reason
	now    bool   // close the socket at once, without flushing
}

var (
	closeServiceShutdown = closeReason{code: websocket.StatusGoingAway, reason: "ServiceShutdown: the emulator is shutting down."}
	closeSessionExpired  = closeReason{code: websocket.StatusPolicyViolation, reason: "SessionExpired: the client did not reconnect in time."}
	closeSlowClient      = closeReason{code: websocket.StatusPolicyViolation, reason: "SlowClient: too many messages are waiting for the client.", now: true}
)

// conn is one logical client connection. For reliable clients it outlives
// its socket: a new socket may resume it within the reconnect window.
type conn struct {
	s           *Server
	h           *hub
	id          string
	ord         uint64 // creation order: fan-outs write connections in this order
	userID      string
	proto       protocol
	subprotocol string
	since       time.Time
	claims      map[string][]string

	// sendToGroupMode: plain WebSocket frames go to modeGroup.
	sendToGroupMode bool
	modeGroup       string
	reconnectToken  string

	groups map[string]struct{} // guarded by h.mu

	pmu    sync.Mutex // guards perms, state, ackIDs
	perms  perms
	state  string
	hasSt  bool
	ackIDs map[uint64]struct{}

	omu          sync.Mutex // guards the outbound side and the socket
	sock         *socket
	pending      []outMsg
	spare        []outMsg
	unacked      []outMsg // reliable: sequenced, not yet acknowledged
	unackedBytes int
	nextSeq      uint64
	ended        bool
	attached     bool // a socket was attached once; before that, frames wait in pending
	endReason    closeReason
	dropTimer    *time.Timer
	// writer is who is writing the queue now: only that one takes batches
	// from pending, which keeps frames in order; it re-checks pending
	// before it lets go.
	writer writerKind

	async asyncQueue

	mq *mqttSession // MQTT sessions only
}

// writerKind says who owns a connection's writes.
type writerKind uint8

const (
	writerNone   writerKind = iota
	writerInline            // a fan-out writing straight from its own goroutine (flushInline)
	writerLoop              // the socket's writeLoop
)

// socket is one WebSocket attached to a conn.
type socket struct {
	ws     *websocket.Conn
	cork   *corkWriter // nil: frames are written through
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{} // closed when the writer has exited
}

func newSocket(ws *websocket.Conn, cork *corkWriter) *socket {
	ctx, cancel := context.WithCancel(context.Background())
	return &socket{ws: ws, cork: cork, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (sk *socket) signal() {
	select {
	case sk.wake <- struct{}{}:
	default:
	}
}

func (c *conn) hasSocket() bool {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.sock != nil
}

// deliver enqueues d in this connection's protocol; ok false means the
// connection is too slow and must be closed. With claim true is the caller
// now owns the connection's writes and must call flushInline.
func (c *conn) deliver(d *delivery) (ok, claim bool) {
	switch c.proto {
	case protoRaw:
		return c.enqueueClaim(d.raw(), true)
	case protoJSON:
		return c.enqueueClaim(d.jsonFrame(), true)
	case protoMQTT:
		return c.mq.deliver(d)
	default:
		return c.enqueueClaim(d.reliableFrame(), true)
	}
}

// enqueue queues m for the writer. It returns false when the connection's
// buffer overflowed (the caller closes it as a slow client).
func (c *conn) enqueue(m outMsg) bool {
	ok, _ := c.enqueueClaim(m, false)
	return ok
}

// enqueueClaim queues m. When inline is set and nobody is writing this
// connection, the caller becomes its writer (claim true) instead of
// waking the socket's writeLoop: a fan-out then writes each connection's
// frames from its own goroutine, no goroutine wake-up per connection.
func (c *conn) enqueueClaim(m outMsg, inline bool) (ok, claim bool) {
	c.omu.Lock()
	if c.ended {
		c.omu.Unlock()
		return true, false
	}
	if m.needSeq {
		c.nextSeq++
		m.seq = c.nextSeq
		c.unacked = append(c.unacked, m)
		c.unackedBytes += len(m.data)
		if len(c.unacked) > reliableMaxUnacked || c.unackedBytes > reliableMaxUnackedBytes {
			// Messages whose TTL has passed will never be sent: they make room.
			var n int
			c.unacked, n = c.withoutExpired(c.unacked)
			c.unackedBytes -= n
			if len(c.unacked) > reliableMaxUnacked || c.unackedBytes > reliableMaxUnackedBytes {
				c.omu.Unlock()
				return false, false
			}
		}
	} else if len(c.pending) >= c.s.cfg.OutboundQueue {
		c.pending, _ = c.withoutExpired(c.pending)
		if len(c.pending) >= c.s.cfg.OutboundQueue {
			c.omu.Unlock()
			return false, false
		}
	}
	sk := c.sock
	if sk != nil || !c.attached {
		c.pending = append(c.pending, m)
	}
	switch {
	case sk == nil:
	case c.writer != writerNone:
		sk = nil // the writer takes it before it lets go
	case inline && sk.cork != nil && sk.cork.raw != nil:
		c.writer = writerInline
		c.omu.Unlock()
		return true, true
	}
	c.omu.Unlock()
	if sk != nil {
		sk.signal()
	}
	return true, false
}

// flushInline writes the connection's queue with non-blocking system calls
// from the caller's goroutine, which owns the writes (enqueueClaim). What
// the socket does not take at once, and anything when a write is in the
// way, is left to the socket's writeLoop, which may block.
func (c *conn) flushInline(fl *flushList) {
	c.omu.Lock()
	sk := c.sock
	c.omu.Unlock()
	if sk == nil || sk.cork == nil || !sk.cork.mu.TryLock() {
		c.releaseWriter(true)
		return
	}
	cw := sk.cork
	// A few rounds at most: a connection that keeps getting frames while
	// they are written is left to its writeLoop rather than holding up the
	// fan-out (and its REST call) indefinitely.
	for round := 0; ; round++ {
		c.omu.Lock()
		if c.sock != sk || c.ended || len(cw.tail) > 0 || (round >= 4 && len(c.pending) > 0) {
			c.omu.Unlock()
			cw.mu.Unlock()
			c.releaseWriter(true)
			return
		}
		batch := c.pending
		if len(batch) == 0 {
			c.writer = writerNone
			c.omu.Unlock()
			cw.mu.Unlock()
			return
		}
		c.pending, c.spare = c.spare[:0], nil
		c.omu.Unlock()
		var err error
		out := batch
		if i := firstTTL(batch); i >= 0 { // no clock, no call without TTLs
			out, _ = c.dropExpired(batch, i)
		}
		if len(out) > 0 {
			err = cw.tryWriteFramesLocked(out, &fl.buf, &fl.scratch)
			if err == nil {
				fl.writes++
				fl.frames += int64(len(out))
			}
			if err == nil && c.s.tracing() {
				c.traceBatch(out, &fl.scratch)
			}
		}
		clear(batch)
		c.omu.Lock()
		if c.spare == nil {
			c.spare = batch[:0]
		}
		c.omu.Unlock()
		if err != nil {
			cw.mu.Unlock()
			c.s.log.Debug("emulator: write failed", "hub", c.h.name, "connectionId", c.id, "err", err)
			c.releaseWriter(true)
			sk.ws.CloseNow()
			sk.cancel()
			return
		}
	}
}

// withoutExpired removes from msgs, in place, the messages whose TTL
// (messageTtlSeconds) has passed, and returns the rest and the data bytes
// removed. Without TTLs it is an inlined scan of one comparison per
// message: the clock is read only when a message has a TTL.
func (c *conn) withoutExpired(msgs []outMsg) ([]outMsg, int) {
	if i := firstTTL(msgs); i >= 0 {
		return c.dropExpired(msgs, i)
	}
	return msgs, 0
}

// firstTTL is the index of the first message with a TTL, or -1.
func firstTTL(msgs []outMsg) int {
	for i := range msgs {
		if msgs[i].expires != 0 {
			return i
		}
	}
	return -1
}

// dropExpired is withoutExpired from msgs[i], the first message with a TTL.
func (c *conn) dropExpired(msgs []outMsg, i int) ([]outMsg, int) {
	now := c.s.now()
	j, dropped := i, 0
	for ; i < len(msgs); i++ {
		if e := msgs[i].expires; e != 0 && now >= e {
			dropped += len(msgs[i].data)
			c.s.log.Debug("emulator: message dropped: its TTL passed before the client took it",
				"hub", c.h.name, "connectionId", c.id, "sequenceId", msgs[i].seq)
			continue
		}
		if j != i {
			msgs[j] = msgs[i]
		}
		j++
	}
	if j == len(msgs) {
		return msgs, 0
	}
	clear(msgs[j:])
	return msgs[:j], dropped
}

// releaseWriter gives up the writes and, with wake, wakes the current
// socket's writeLoop to take over.
func (c *conn) releaseWriter(wake bool) {
	c.omu.Lock()
	c.writer = writerNone
	sk := c.sock
	c.omu.Unlock()
	if wake && sk != nil {
		sk.signal()
	}
}

// send enqueues a single control or data frame and closes the connection if
// that overflows its buffer.
func (c *conn) send(m outMsg) {
	if !c.enqueue(m) {
		c.closeSlow()
	}
}

// sequenceAck drops acknowledged messages (everything ≤ seq).
func (c *conn) sequenceAck(seq uint64) {
	c.omu.Lock()
	i := 0
	for i < len(c.unacked) && c.unacked[i].seq <= seq {
		c.unackedBytes -= len(c.unacked[i].data)
		i++
	}
	if i > 0 {
		n := copy(c.unacked, c.unacked[i:])
		clear(c.unacked[n:])
		c.unacked = c.unacked[:n]
	}
	c.omu.Unlock()
}

// attach makes sk the connection's socket and starts its writer. For a
// resumed reliable connection it queues every unacknowledged message again
// (after first), replacing an old socket that has not noticed its drop yet.
func (c *conn) attach(sk *socket, first ...outMsg) bool {
	c.omu.Lock()
	if c.ended {
		c.omu.Unlock()
		return false
	}
	old := c.sock
	if c.dropTimer != nil {
		c.dropTimer.Stop()
		c.dropTimer = nil
	}
	c.sock = sk
	if !c.attached {
		// The first socket: what was queued before it follows the first frames.
		c.pending = append(first, c.pending...)
		c.attached = true
	} else {
		// A resumed socket: the first frames, then every unacknowledged
		// message whose TTL has not passed. An expired one is forgotten
		// with its sequence id: the client sees a gap, which the protocol
		// allows (a client acknowledges the highest id it has seen).
		var n int
		c.unacked, n = c.withoutExpired(c.unacked)
		c.unackedBytes -= n
		c.pending = append(c.pending[:0], first...)
		c.pending = append(c.pending, c.unacked...)
	}
	c.omu.Unlock()
	if old != nil {
		old.cancel()
		old.ws.CloseNow()
	}
	c.s.conns.Add(1)
	go c.writeLoop(sk)
	sk.signal()
	return true
}

// writeLoop is a socket's only writer: it drains the queue in batches, so
// that fan-out never waits on a socket, and sends keep-alive pings when idle.
func (c *conn) writeLoop(sk *socket) {
	defer c.s.conns.Done()
	defer close(sk.done)
	ticker := time.NewTicker(c.s.cfg.KeepAlive)
	defer ticker.Stop()
	var scratch []byte
	busy := false
	owned := false // this loop is c.writer
	defer func() {
		if owned {
			c.releaseWriter(true) // a resumed socket's loop may be waiting
		}
	}()
	for {
		select {
		case <-sk.ctx.Done():
			return
		case <-ticker.C:
			if !busy {
				go c.ping(sk)
			}
			busy = false
			continue
		case <-sk.wake:
			// Let the fan-out that woke us (and other writers) run first, so
			// more frames are waiting and go out in one system call.
			runtime.Gosched()
		}
		for {
			c.omu.Lock()
			if c.sock != sk {
				c.omu.Unlock()
				return
			}
			if !owned && c.writer != writerNone {
				c.omu.Unlock()
				break // an inline writer has it; it wakes us if need be
			}
			batch := c.pending
			c.pending, c.spare = c.spare[:0], nil
			ending, reason := c.ended && len(batch) == 0, c.endReason
			if len(batch) == 0 && !ending {
				c.writer, owned = writerNone, false
				c.omu.Unlock()
				// What a non-blocking write left (an inline writer hands
				// over through this).
				if sk.cork != nil {
					if err := sk.cork.flushTail(writeTimeout); err != nil {
						c.s.log.Debug("emulator: write failed", "hub", c.h.name, "connectionId", c.id, "err", err)
						sk.ws.CloseNow()
						sk.cancel()
						return
					}
				}
				break
			}
			c.writer, owned = writerLoop, true
			c.omu.Unlock()
			if ending {
				sk.ws.Close(reason.code, truncateReason(reason.reason))
				sk.cancel()
				return
			}
			busy = true
			out := batch
			if i := firstTTL(batch); i >= 0 {
				out, _ = c.dropExpired(batch, i)
			}
			if len(out) > 0 {
				if err := c.writeBatch(sk, out, &scratch); err != nil {
					c.s.log.Debug("emulator: write failed", "hub", c.h.name, "connectionId", c.id, "err", err)
					sk.ws.CloseNow()
					sk.cancel()
					return
				}
			}
			clear(batch)
			c.omu.Lock()
			if c.spare == nil {
				c.spare = batch[:0]
			}
			c.omu.Unlock()
		}
	}
}

// writeBatch writes batch: through the corkWriter in one system call when
// the socket has one, else frame by frame through coder/websocket.
func (c *conn) writeBatch(sk *socket, batch []outMsg, scratch *[]byte) error {
	if sk.cork != nil {
		if err := sk.cork.writeFrames(batch, scratch, writeTimeout); err != nil {
			return err
		}
	} else {
		ctx, cancel := context.WithTimeout(sk.ctx, writeTimeout)
		defer cancel()
		for _, m := range batch {
			data := m.data
			if m.seq > 0 {
				*scratch = appendSequenced((*scratch)[:0], m.seq, m.data)
				data = *scratch
			}
			if err := sk.ws.Write(ctx, m.typ, data); err != nil {
				return err
			}
		}
	}
	c.s.countWrites(1, int64(len(batch)))
	if c.s.tracing() {
		c.traceBatch(batch, scratch)
	}
	return nil
}

// traceBatch traces the frames of a written batch.
func (c *conn) traceBatch(batch []outMsg, scratch *[]byte) {
	for _, m := range batch {
		data := m.data
		if m.seq > 0 {
			*scratch = appendSequenced((*scratch)[:0], m.seq, m.data)
			data = *scratch
		}
		if c.mq != nil {
			c.traceMQTTOut(data)
			continue
		}
		c.traceFrame(TraceFrameOut, m.kind.String(), m.typ, data)
	}
}

func (c *conn) ping(sk *socket) {
	ctx, cancel := context.WithTimeout(sk.ctx, c.s.cfg.KeepAlive)
	defer cancel()
	if err := sk.ws.Ping(ctx); err != nil && sk.ctx.Err() == nil {
		c.s.log.Info("emulator: client missed a ping", "hub", c.h.name, "connectionId", c.id)
		sk.ws.CloseNow()
		sk.cancel()
	}
}

// socketGone handles the end of sk's read loop: a reliable connection waits
// for recovery, any other ends.
func (c *conn) socketGone(sk *socket, resumable bool, r closeReason) {
	window := c.s.cfg.ReconnectWindow
	if c.mq != nil {
		window = c.mq.window() // 0: the session ends with its socket
	}
	c.omu.Lock()
	if c.sock != sk {
		c.omu.Unlock()
		return // replaced by a resumed socket
	}
	c.sock = nil
	ended := c.ended
	if !ended && resumable && (c.proto == protoReliable || c.mq != nil && window > 0) && !c.s.closing.Load() {
		c.dropTimer = time.AfterFunc(window, func() { c.close(closeSessionExpired) })
		c.omu.Unlock()
		sk.cancel()
		c.s.log.Info("emulator: socket dropped, waiting for recovery", "hub", c.h.name, "connectionId", c.id)
		return
	}
	c.omu.Unlock()
	sk.cancel()
	sk.ws.CloseNow() // after a 1009 or a close handshake; the reader is gone
	if !ended {
		c.close(r)
	}
}

// dropSocket cuts the socket off without a close frame.
func (c *conn) dropSocket() bool {
	c.omu.Lock()
	sk := c.sock
	c.omu.Unlock()
	if sk == nil {
		return false
	}
	sk.ws.CloseNow()
	return true
}

// close ends the connection: a disconnected system message (JSON
// protocols), a close frame, removal from the hub, the disconnected upstream
// event and the trace entry. It is idempotent.
func (c *conn) close(r closeReason) {
	var mqttDisconnect []outMsg // before omu: mqttSession.mu comes first
	if c.mq != nil {
		if f, ok := c.mq.disconnectFrame(r); ok {
			mqttDisconnect = append(mqttDisconnect, f)
		}
	}
	c.omu.Lock()
	if c.ended {
		c.omu.Unlock()
		return
	}
	c.ended = true
	if c.proto == protoReliable && r.code != websocket.StatusGoingAway {
		// The session is gone; 1008 tells the client not to try recovery.
		r.code = websocket.StatusPolicyViolation
	}
	c.endReason = r
	if c.dropTimer != nil {
		c.dropTimer.Stop()
		c.dropTimer = nil
	}
	sk := c.sock
	if sk != nil && c.mq != nil && !r.now {
		c.pending = append(c.pending, mqttDisconnect...)
	} else if sk != nil && c.proto != protoRaw && !r.now {
		c.pending = append(c.pending, disconnectedFrame(r.reason))
	}
	c.omu.Unlock()
	if sk != nil {
		if r.now {
			sk.ws.CloseNow()
			sk.cancel()
		} else {
			sk.signal()
		}
	}
	c.h.remove(c)
	if c.mq != nil {
		c.mq.ended()
	}
	c.s.up.disconnected(c, r.reason)
	c.s.log.Info("emulator: connection closed", "hub", c.h.name, "connectionId", c.id, "reason", r.reason)
	c.s.trace(TraceEvent{Kind: TraceDisconnected, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: r.reason})
}

// waitRoom holds the reader while the connection's own queue is more than
// half full, so a client that sends faster than it reads its acks is slowed
// down (back-pressure) instead of being dropped; after writeTimeout it is
// dropped as slow.
func (c *conn) waitRoom() bool {
	limit := c.s.cfg.OutboundQueue / 2
	deadline := time.Time{}
	for {
		c.omu.Lock()
		n, ok := len(c.pending), c.sock != nil && !c.ended
		c.omu.Unlock()
		if n <= limit || !ok {
			return true
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(writeTimeout)
		} else if time.Now().After(deadline) {
			c.closeSlow()
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *conn) closeSlow() {
	c.s.log.Warn("emulator: closing slow client", "hub", c.h.name, "connectionId", c.id)
	c.close(closeSlowClient)
}

// joined and left run after a membership change: trace and presence event.
func (c *conn) joined(g string) {
	c.s.trace(TraceEvent{Kind: TraceGroupJoin, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Group: g, Summary: "joined " + g})
	c.s.up.groupEvent(c, "joined", g)
}

func (c *conn) left(g string) {
	c.s.trace(TraceEvent{Kind: TraceGroupLeave, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Group: g, Summary: "left " + g})
	c.s.up.groupEvent(c, "left", g)
}

// getState returns the stored ce-connectionState value.
func (c *conn) getState() (string, bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.state, c.hasSt
}

func (c *conn) setState(v string) {
	c.pmu.Lock()
	c.state, c.hasSt = v, true
	c.pmu.Unlock()
}

// forgetAck drops ackID from the processed ones.
func (c *conn) forgetAck(ackID uint64) {
	c.pmu.Lock()
	delete(c.ackIDs, ackID)
	c.pmu.Unlock()
}

// seenAck records ackID and reports whether it was processed before.
func (c *conn) seenAck(ackID uint64) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if _, ok := c.ackIDs[ackID]; ok {
		return true
	}
	if c.ackIDs == nil || len(c.ackIDs) >= maxRememberedAckIDs {
		c.ackIDs = map[uint64]struct{}{}
	}
	c.ackIDs[ackID] = struct{}{}
	return false
}

func (c *conn) traceFrame(kind, what string, typ websocket.MessageType, data []byte) {
	c.s.trace(TraceEvent{Kind: kind, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: frameSummary(what, typ, data)})
}

// frameSummary is a short, single-line description of a frame.
func frameSummary(what string, typ websocket.MessageType, data []byte) string {
	const max = 160
	if typ == websocket.MessageBinary {
		return what + " binary " + strconv.Itoa(len(data)) + " bytes"
	}
	s := string(data)
	if len(s) > max {
		s = s[:max] + "…"
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			b := []byte(s)
			for j := range b {
				if b[j] == '\n' || b[j] == '\r' {
					b[j] = ' '
				}
			}
			s = string(b)
			break
		}
	}
	if what == "" {
		return s
	}
	return what + " " + s
}

func truncateReason(s string) string {
	// A close frame's reason is at most 123 bytes of valid UTF-8: cut on a
	// rune boundary, or clients fail the connection (1006/1007).
	if len(s) <= 120 {
		return s
	}
	n := 120
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
