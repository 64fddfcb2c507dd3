package emulator

import (
	"context"
	"errors"
	"os"
	"runtime"
	"time"
)

// Limits of reliable connections (the client spec's buffer).
const (
	reliableMaxUnacked      = 1000
	reliableMaxUnackedBytes = 16 << 20
	writeTimeout            = 10 * time.Second
	maxRememberedAckIDs     = 1 << 16
)

// writerKind says who owns a connection's writes.
type writerKind uint8

const (
	writerNone   writerKind = iota
	writerInline            // a fan-out writing straight from its own goroutine (flushInline)
	writerLoop              // the socket's writeLoop
)

// deliver enqueues d in this connection's protocol; ok false means the
// connection is too slow and must be closed. With claim true is the caller
// now owns the connection's writes and must call flushInline.
func (c *conn) deliver(d *delivery) (ok, claim bool) {
	if c.mq != nil {
		return c.mq.deliver(d) // per-session QoS, packet ids and inflight window
	}
	return c.enqueueClaim(c.proto.message(d), true)
}

// queueFullLocked reports whether a message of n bytes does not fit in the
// queue of a non-reliable connection: OutboundQueue messages or
// OutboundQueueBytes bytes, whichever comes first. c.omu held.
func (c *conn) queueFullLocked(n int) bool {
	return len(c.pending) >= c.s.cfg.OutboundQueue || c.pendingBytes+n > c.s.cfg.OutboundQueueBytes
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
	} else if c.queueFullLocked(len(m.data)) {
		var n int
		c.pending, n = c.withoutExpired(c.pending)
		c.pendingBytes -= n
		if c.queueFullLocked(len(m.data)) {
			c.omu.Unlock()
			return false, false
		}
	}
	sk := c.sock
	if sk != nil || !c.attached {
		c.pending = append(c.pending, m)
		c.pendingBytes += len(m.data)
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
		c.pending, c.spare, c.pendingBytes = c.spare[:0], nil, 0
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
	c.stopDropTimerLocked()
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
	c.pendingBytes = 0
	for _, m := range c.pending {
		c.pendingBytes += len(m.data)
	}
	c.omu.Unlock()
	if old != nil {
		old.cancel()
		old.ws.CloseNow()
	}
	c.s.conns.Go(func() { c.writeLoop(sk) })
	sk.signal()
	return true
}

// writeLoop is a socket's only writer: it drains the queue in batches, so
// that fan-out never waits on a socket, and sends keep-alive pings when idle.
func (c *conn) writeLoop(sk *socket) {
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
				c.s.conns.Go(func() { c.ping(sk) })
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
			c.pending, c.spare, c.pendingBytes = c.spare[:0], nil, 0
			ending, reason := c.ended && len(batch) == 0, c.endReason
			if len(batch) == 0 && !ending {
				c.writer, owned = writerNone, false
				c.omu.Unlock()
				// What a non-blocking write left (an inline writer hands
				// over through this).
				if sk.cork != nil {
					if err := sk.cork.flushTail(writeTimeout); err != nil {
						c.writeFailed(sk, err)
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
					c.writeFailed(sk, err)
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

// writeFailed ends a socket whose write failed. A write that timed out means
// the client stopped reading while its frames were already on their way (a
// writer had taken them off the queue, so the queue bound never fired): it is
// dropped as a slow client, with that reason, as when its queue overflows. A
// resumable session keeps its socket-lost path so the client can reconnect.
func (c *conn) writeFailed(sk *socket, err error) {
	c.s.log.Debug("emulator: write failed", "hub", c.h.name, "connectionId", c.id, "err", err)
	if !c.proto.resumable() && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)) {
		c.closeSlow()
		return
	}
	sk.ws.CloseNow()
	sk.cancel()
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
			data := m.bytes(scratch)
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

// waitRoom holds the reader while the connection's own queue is more than
// half full, so a client that sends faster than it reads its acks is slowed
// down (back-pressure) instead of being dropped; after writeTimeout it is
// dropped as slow.
func (c *conn) waitRoom() bool {
	limit := c.s.cfg.OutboundQueue / 2
	deadline := time.Time{}
	for {
		c.omu.Lock()
		n, b, ok := len(c.pending), c.pendingBytes, c.sock != nil && !c.ended
		c.omu.Unlock()
		if (n <= limit && b <= c.s.cfg.OutboundQueueBytes/2) || !ok {
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
