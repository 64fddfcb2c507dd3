package emulator

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Shutdown sends each client a disconnected system message, closes every
// connection (sending the disconnected upstream events), and waits for them
// and for pending notifications until ctx ends. New clients are refused
// from the first call. When ctx ends first, what is still running is cut
// off (upstream calls cancelled, sockets closed) and waited for, briefly,
// before Shutdown returns ctx's error. The http.Server serving Handler is
// the caller's to shut down (hijacked WebSockets are not tracked by it);
// shut it down after this returns, so that event handlers answering the
// disconnected events can still call the REST API.
//
// Every goroutine the emulator starts is counted in s.conns and so waited
// for here: each socket's read loop (the handler's goroutine) and writeLoop,
// its keep-alive pings, each connection's notification runner, a drop
// timer while it runs, and a fan-out backlog handed to a goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closing.CompareAndSwap(false, true) {
		close(s.shutdown)
	}
	for _, h := range s.allHubs() {
		for _, c := range h.connections() {
			c.close(closeServiceShutdown)
		}
	}
	defer s.up.caller.Client.CloseIdleConnections()
	defer s.down.Store(true)
	select {
	case <-s.conns.idle():
		return nil
	case <-ctx.Done():
	}
	s.stop()
	for _, h := range s.allHubs() {
		for _, c := range h.connections() {
			c.dropSocket()
		}
	}
	select {
	case <-s.conns.idle():
	case <-time.After(hardStopWait):
	}
	return fmt.Errorf("emulator: shutdown: %w", ctx.Err())
}

// hardStopWait bounds the wait, after Shutdown's context ended, for what it
// cut off.
const hardStopWait = time.Second

// activity counts the server's goroutines and live sockets so Shutdown can
// wait for them. Unlike sync.WaitGroup it allows Add while a Wait is in
// progress at zero: a handshake that passed the closing check just before
// Shutdown may still register, and a wait simply ends at the first moment
// the count is zero.
type activity struct {
	mu     sync.Mutex
	n      int
	idleCh chan struct{} // closed when n reaches zero; nil while nobody waits
}

func (a *activity) Add(delta int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += delta
	if a.n < 0 {
		panic("emulator: activity count below zero")
	}
	if a.n == 0 && a.idleCh != nil {
		close(a.idleCh)
		a.idleCh = nil
	}
}

func (a *activity) Done() { a.Add(-1) }

// Go runs f on a goroutine counted until f returns.
func (a *activity) Go(f func()) {
	a.Add(1)
	go func() {
		defer a.Done()
		f()
	}()
}

// idle returns a channel closed once the count is zero.
func (a *activity) idle() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		return closedChan
	}
	if a.idleCh == nil {
		a.idleCh = make(chan struct{})
	}
	return a.idleCh
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Wait blocks until the count is zero.
func (a *activity) Wait() { <-a.idle() }
