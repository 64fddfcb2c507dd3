package emulator

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Write batching. coder/websocket flushes its buffered writer after every
// message, one write system call per frame. For fan-out that is most of the
// cost, so the emulator hands coder/websocket a writer that can be "corked":
// while a connection's writer goroutine drains a batch, frames collect in
// memory and go out in one system call at the end. Outside a batch (pongs,
// close frames written by the reader) it writes through.

// corkWriter sits between coder/websocket's bufio.Writer and the socket.
type corkWriter struct {
	conn net.Conn

	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.corked {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	return w.conn.Write(p)
}

func (w *corkWriter) cork() {
	w.mu.Lock()
	w.corked = true
	w.mu.Unlock()
}

// uncork writes what collected, with a deadline, and writes through again.
func (w *corkWriter) uncork(timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.corked = false
	if len(w.buf) == 0 {
		return nil
	}
	w.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := w.conn.Write(w.buf)
	w.conn.SetWriteDeadline(time.Time{})
	if cap(w.buf) > 256<<10 {
		w.buf = nil // do not pin a burst's memory on an idle connection
	} else {
		w.buf = w.buf[:0]
	}
	return err
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
	return conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(rw.cork, 16<<10)), nil
}
