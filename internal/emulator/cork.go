package emulator

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
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

// corkWriter sits between coder/websocket's bufio.Writer and the socket, and
// writes the connection's data frames in batches.
type corkWriter struct {
	conn net.Conn

	mu  sync.Mutex // serialises coder/websocket's writes and ours
	buf []byte
}

// Write is coder/websocket's path (handshake leftovers, control frames).
func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.Write(p)
}

// writeFrames encodes batch as WebSocket data frames and writes them with
// one system call, bounded by timeout.
func (w *corkWriter) writeFrames(batch []outMsg, scratch *[]byte, timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf[:0]
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
	}
	w.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := w.conn.Write(b)
	w.conn.SetWriteDeadline(time.Time{})
	if cap(b) > 256<<10 {
		b = nil // do not pin a burst's memory on an idle connection
	}
	w.buf = b[:0]
	return err
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
	rw.cork = &corkWriter{conn: conn}
	// coder/websocket writes only control frames through this (at most 131
	// bytes, flushed one by one), so a small buffer keeps each one whole and
	// idle connections light.
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(rw.cork, 256)), nil
}
