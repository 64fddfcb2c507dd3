// Package shutdown stops an http.Server without waiting on connections that
// never sent a request.
//
// http.Server.Shutdown waits five seconds for a connection still in
// StateNew, in case its first request is in flight. An http.Transport that
// dialed for a request but was served by another connection first parks the
// new one in its idle pool without writing to it, so a server whose own
// process calls it (wpsfn dev's functions call the emulator's REST API)
// often has one at shutdown, and every Ctrl-C took five seconds.
package shutdown

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// quiet is how long a connection may stay in StateNew during a shutdown
// before it is taken for a pooled dial and closed.
const quiet = 200 * time.Millisecond

// Tracker records a server's connections that have not begun a request.
// Install it with Track before the server serves.
type Tracker struct {
	srv  *http.Server
	mu   sync.Mutex
	new  map[net.Conn]time.Time
	prev func(net.Conn, http.ConnState)
}

// Track installs a Tracker on srv's ConnState hook (calling any hook already
// there too).
func Track(srv *http.Server) *Tracker {
	t := &Tracker{srv: srv, new: map[net.Conn]time.Time{}, prev: srv.ConnState}
	srv.ConnState = t.state
	return t
}

func (t *Tracker) state(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	if s == http.StateNew {
		t.new[c] = time.Now()
	} else {
		delete(t.new, c)
	}
	t.mu.Unlock()
	if t.prev != nil {
		t.prev(c, s)
	}
}

// Shutdown is the server's Shutdown, closing connections that stay in
// StateNew for a moment once it has begun: no request has started on them.
func (t *Tracker) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- t.srv.Shutdown(ctx) }()
	tick := time.NewTicker(quiet / 4)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			t.closeQuiet()
		}
	}
}

func (t *Tracker) closeQuiet() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, since := range t.new {
		if time.Since(since) >= quiet {
			c.Close()
			delete(t.new, c)
		}
	}
}
