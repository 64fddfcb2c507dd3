package main

// The fan-out baselines, served to the same clients as the emulator: a bare
// coder/websocket fan-out and the floor, one write(2) per frame.

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// baseline serves b on loopback, has the client process dial it, and runs
// phases against it.
func baseline(b http.Handler, name string, send func(childMsg), recv func(time.Duration) (childMsg, error), connected *int, phases func() error) error {
	base, stop, err := serveLoopback(b)
	if err != nil {
		return err
	}
	defer stop()
	send(childMsg{Op: "dial", URL: "ws" + strings.TrimPrefix(base, "http") + "/"})
	m, err := recv(3 * time.Minute)
	if err != nil {
		return err
	}
	if m.N != *connected {
		fmt.Printf("  (%s got %d clients of %d)\n", name, m.N, *connected)
	}
	*connected = m.N
	// A client's handshake may complete a moment before the server has
	// listed its connection.
	c, _ := b.(interface{ count() int })
	for deadline := time.Now().Add(5 * time.Second); c != nil && c.count() < *connected && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return phases()
}

// bareHub is the fan-out baseline: the least a Go server does to send a
// frame to every connection with coder/websocket.
type bareHub struct {
	mu    sync.Mutex
	conns []chan []byte
}

func (b *bareHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ctx := c.CloseRead(context.Background())
	ch := make(chan []byte, 1<<12)
	b.mu.Lock()
	b.conns = append(b.conns, ch)
	b.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ch:
			if c.Write(ctx, websocket.MessageText, m) != nil {
				return
			}
		}
	}
}

func (b *bareHub) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

func (b *bareHub) broadcast(m []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.conns {
		select {
		case ch <- m:
		default: // a slow client misses it (counted as not delivered)
		}
	}
}

// rawHub is the floor baseline: it answers the WebSocket upgrade itself,
// keeps each socket's descriptor, and sends a frame to every client with
// one non-blocking write(2) per client, split over the processors. No
// queue, no goroutine per connection, no reading: the least any server can
// do per frame without putting several frames in one write.
type rawHub struct {
	mu    sync.Mutex
	files []*os.File // keeps the descriptors open
	fds   []int
}

func (b *rawHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	hj, ok := w.(http.Hijacker)
	if !ok || key == "" {
		http.Error(w, "not a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	nc, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	if _, err := io.WriteString(nc, resp); err != nil {
		return
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	f, err := tc.File() // a duplicate descriptor, ours alone once nc is closed
	if err != nil {
		return
	}
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		f.Close()
		return
	}
	b.mu.Lock()
	b.files = append(b.files, f)
	b.fds = append(b.fds, int(f.Fd()))
	b.mu.Unlock()
}

func (b *rawHub) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.fds)
}

func (b *rawHub) broadcast(m []byte) {
	frame := append([]byte{0x81, byte(len(m))}, m...) // a text frame; m < 126 bytes
	b.mu.Lock()
	fds := b.fds
	b.mu.Unlock()
	var wg sync.WaitGroup
	for part := range slices.Chunk(fds, (len(fds)+runtime.GOMAXPROCS(0)-1)/max(1, runtime.GOMAXPROCS(0))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, fd := range part {
				syscall.Write(fd, frame) // a full socket misses it (counted as lost)
			}
		}()
	}
	wg.Wait()
}

func (b *rawHub) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.files {
		f.Close()
	}
	b.files, b.fds = nil, nil
}
