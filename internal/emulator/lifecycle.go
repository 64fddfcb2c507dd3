package emulator

import (
	"context"
	"fmt"
	"sync"
)

// Shutdown sends each client a disconnected system message, closes every
// connection (sending the disconnected upstream events), and waits for them
// and for pending notifications until ctx ends. New clients are refused
// from the first call. The http.Server serving Handler is the caller's to shut
// down (hijacked WebSockets are not tracked by it).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closing.CompareAndSwap(false, true) {
		close(s.shutdown)
	}
	for _, h := range s.allHubs() {
		for _, c := range h.connections() {
			c.close(closeServiceShutdown)
		}
	}
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		s.up.client.CloseIdleConnections()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("emulator: shutdown: %w", ctx.Err())
	}
}

// activity counts the server's live sockets and pending notifications so
// Shutdown can wait for them. Unlike sync.WaitGroup it allows Add while a
// Wait is in progress at zero: a handshake that passed the closing check just
// before Shutdown may still register, and Wait simply returns at the first
// moment the count is zero.
type activity struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n reaches zero; nil while nobody waits
}

func (a *activity) Add(delta int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += delta
	if a.n < 0 {
		panic("emulator: activity count below zero")
	}
	if a.n == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
}

func (a *activity) Done() { a.Add(-1) }

// Wait blocks until the count is zero.
func (a *activity) Wait() {
	a.mu.Lock()
	if a.n == 0 {
		a.mu.Unlock()
		return
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	idle := a.idle
	a.mu.Unlock()
	<-idle
}
