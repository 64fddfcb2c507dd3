package emulator

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Write batching. coder/websocket does the handshake, reads, control frames
// (ping, pong, close) and the close handshake; but it flushes after every
// message, one system call and several locks per frame, and fan-out is
// mostly that cost. So the connection's single writer goroutine encodes its
// data frames itself (a server frame is just a header and the unmasked
// payload, RFC 6455 §5.2) into the corkWriter's buffer and writes a whole
// batch with one system call. coder/websocket's own frames pass through the
// same corkWriter under the same lock, so frames never interleave: its
// control frames are at most 131 bytes and always reach Write whole.

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

func (c *conn) ping(sk *socket) {
	ctx, cancel := context.WithTimeout(sk.ctx, c.s.cfg.KeepAlive)
	defer cancel()
	if err := sk.ws.Ping(ctx); err != nil && sk.ctx.Err() == nil {
		c.s.log.Info("emulator: client missed a ping", "hub", c.h.name, "connectionId", c.id)
		sk.ws.CloseNow()
		sk.cancel()
	}
}

// corkWriter sits between coder/websocket's bufio.Writer and the socket, and
// writes the connection's data frames in batches.
type corkWriter struct {
	conn net.Conn

	mu  sync.Mutex // serialises coder/websocket's writes and ours
	buf []byte
	// deadline is the socket's write deadline once a batch has set one. It
	// is renewed only when less than half of writeTimeout is left, not
	// around every write: setting a deadline costs timer work comparable to
	// a small write, and each write still gets between writeTimeout/2 and
	// writeTimeout.
	deadline time.Time
	// tail is the unwritten end of a non-blocking write: bytes that must go
	// out before anything else. Every write path writes it first.
	tail []byte

	// For non-blocking writes straight on the descriptor (nil when the
	// connection has none): rawWrite is made once so a write allocates
	// nothing; it reads rb and sets rn, rerr.
	raw      syscall.RawConn
	rawWrite func(fd uintptr) bool
	rb       []byte
	rn       int
	rerr     error
}

func newCorkWriter(conn net.Conn) *corkWriter {
	w := &corkWriter{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.rawWrite = func(fd uintptr) bool {
				w.rn, w.rerr = syscall.Write(int(fd), w.rb)
				return true // one attempt: never wait for the socket
			}
		}
	}
	return w
}

// flushTailLocked writes the tail, blocking; w.mu held.
func (w *corkWriter) flushTailLocked(timeout time.Duration) error {
	if len(w.tail) == 0 {
		return nil
	}
	w.renewDeadline(timeout)
	_, err := w.conn.Write(w.tail)
	w.tail = nil
	return err
}

// renewDeadline keeps at least half of timeout ahead of any write; w.mu held.
func (w *corkWriter) renewDeadline(timeout time.Duration) {
	now := time.Now()
	if w.deadline.Sub(now) < timeout/2 {
		w.deadline = now.Add(timeout)
		w.conn.SetWriteDeadline(w.deadline)
	}
}

// Write is coder/websocket's path (handshake leftovers, control frames).
func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.deadline.IsZero() {
		// A deadline set for an earlier batch must not expire under
		// coder/websocket's own writes (pings, the close frame).
		w.renewDeadline(writeTimeout)
	}
	if err := w.flushTailLocked(writeTimeout); err != nil {
		return 0, err
	}
	return w.conn.Write(p)
}

// flushTail writes the tail left by a non-blocking write, if any.
func (w *corkWriter) flushTail(timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushTailLocked(timeout)
}

// writeFrames encodes batch as WebSocket data frames and writes them with
// one system call, bounded by timeout.
func (w *corkWriter) writeFrames(batch []outMsg, scratch *[]byte, timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append(w.buf[:0], w.tail...)
	w.tail = nil
	b = appendFrames(b, batch, scratch)
	w.renewDeadline(timeout)
	_, err := w.conn.Write(b)
	if cap(b) > 256<<10 {
		b = nil // do not pin a burst's memory on an idle connection
	}
	w.buf = b[:0]
	return err
}

// tryWriteFramesLocked writes batch (after any tail) with one
// non-blocking system call into buf; what the socket did not take becomes
// the tail. w.mu held, w.raw set.
func (w *corkWriter) tryWriteFramesLocked(batch []outMsg, buf, scratch *[]byte) error {
	b := append((*buf)[:0], w.tail...)
	w.tail = nil
	b = appendFrames(b, batch, scratch)
	*buf = b[:0]
	if !w.deadline.IsZero() {
		// An expired deadline would fail this write too.
		w.renewDeadline(writeTimeout)
	}
	w.rb = b
	err := w.raw.Write(w.rawWrite)
	w.rb = nil
	if err == nil {
		err = w.rerr
	}
	n := max(w.rn, 0)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		err = nil
	}
	if err != nil {
		return err
	}
	if n < len(b) {
		w.tail = append([]byte(nil), b[n:]...)
		partialWrites.Add(1)
	}
	return nil
}

// partialWrites counts non-blocking writes that left a tail (for tests).
var partialWrites atomic.Int64

// appendFrames encodes batch as WebSocket data frames.
func appendFrames(b []byte, batch []outMsg, scratch *[]byte) []byte {
	for _, m := range batch {
		var prefix []byte
		if m.seq > 0 {
			*scratch = appendSequencePrefix((*scratch)[:0], m.seq)
			prefix = *scratch
		}
		op := byte(0x1) // text
		if m.typ == websocket.MessageBinary {
			op = 0x2
		}
		b = appendFrameHeader(b, op, len(prefix)+len(m.data))
		b = append(b, prefix...)
		b = append(b, m.data...)
		if m.mqttID != 0 { // an MQTT PUBLISH's id, in this copy of the shared bytes
			setMQTTPacketID(b[len(b)-len(m.data):], m.mqttID)
		}
	}
	return b
}

// appendFrameHeader appends a final, unmasked frame header (RFC 6455 §5.2).
func appendFrameHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, 0x80|opcode)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return append(b, 127, byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// corkingResponseWriter gives coder/websocket's Accept a hijacked connection
// whose writes go through a corkWriter.
type corkingResponseWriter struct {
	http.ResponseWriter
	cork *corkWriter
}

func (rw *corkingResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := rw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("emulator: the ResponseWriter cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			return nil, nil, err
		}
	}
	rw.cork = newCorkWriter(conn)
	// coder/websocket writes only control frames through this (at most 131
	// bytes, flushed one by one), so a small buffer keeps each one whole and
	// idle connections light.
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(rw.cork, 256)), nil
}
