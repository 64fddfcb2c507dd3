package emulator

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent broadcasts, written inline by the REST handlers (flushInline)
// or by the sockets' writeLoops, reach every protocol whole and in each
// sender's order; reliable clients see consecutive sequence ids.
func TestBroadcastConcurrentOrder(t *testing.T) {
	// No pings: the stalled client cannot answer them while it reads
	// nothing, and a slow machine must not drop it for that.
	e := newEnv(t, Config{KeepAlive: time.Hour})
	raw := e.connect("chat", "a", "")
	js := e.connect("chat", "b", SubprotocolJSON)
	rel := e.connect("chat", "c", SubprotocolJSONReliable)
	// A client that reads nothing until every send is done: its socket
	// fills, non-blocking writes come back partial and the writeLoop
	// finishes them.
	sc, _, err := e.dial("chat", e.token("chat", "d"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.CloseNow() })
	eventually(t, "4 connections", func() bool { return len(e.s.hub("chat").connections()) == 4 })

	// It starts reading (into a buffer) once some write has come back
	// partial, or once every send is done: a slow machine must not leave it
	// unread for the write timeout.
	before := partialWrites.Load()
	var sent atomic.Bool
	stalledC := make(chan *client, 1)
	go func() {
		for partialWrites.Load() == before && !sent.Load() {
			time.Sleep(time.Millisecond)
		}
		stalledC <- newClient(t, sc)
	}()

	const senders, each = 4, 60
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every fourth message is large, so that some non-blocking
				// writes are partial and the writeLoop takes over.
				body := fmt.Sprintf("%d-%d", s, i)
				if i%4 == 3 {
					body += "-" + strings.Repeat("x", 200<<10)
				}
				if code, _, b := e.rest("POST", "/api/hubs/chat/:send", "text/plain", []byte(body)); code != 202 {
					t.Errorf("send %s: %d %s", body[:min(len(body), 12)], code, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	sent.Store(true)
	stalled := <-stalledC

	check := func(name string, data func() []byte) {
		t.Helper()
		next := make([]int, senders)
		for range senders * each {
			d := data()
			parts := bytes.SplitN(d, []byte("-"), 3)
			if len(parts) < 2 {
				t.Fatalf("%s: message %.40q", name, d)
			}
			s, _ := strconv.Atoi(string(parts[0]))
			i, _ := strconv.Atoi(string(parts[1]))
			if s < 0 || s >= senders || i != next[s] {
				t.Fatalf("%s: got message %d-%d, want %d-%d next", name, s, i, s, next[min(max(s, 0), senders-1)])
			}
			if i%4 == 3 && (len(parts) != 3 || len(parts[2]) != 200<<10 || bytes.Count(parts[2], []byte("x")) != 200<<10) {
				t.Fatalf("%s: message %d-%d damaged (%d bytes)", name, s, i, len(d))
			}
			next[s]++
		}
	}
	check("plain", func() []byte { _, b := raw.readRaw(); return b })
	check("stalled plain", func() []byte { _, b := stalled.readRaw(); return b })
	check("json", func() []byte {
		m := js.read()
		if m["type"] != "message" || m["from"] != "server" {
			t.Fatalf("json: %v", m["type"])
		}
		return []byte(m["data"].(string))
	})
	seq := 0.0
	check("reliable", func() []byte {
		m := rel.read()
		seq++
		if m["sequenceId"] != seq {
			t.Fatalf("reliable: sequenceId %v, want %v", m["sequenceId"], seq)
		}
		return []byte(m["data"].(string))
	})
	raw.noMessage(50e6)
	t.Logf("non-blocking writes that left a tail for the writeLoop so far: %d", partialWrites.Load())
}

// When the fan-out writers are all busy, a broadcast queues its
// connections for them and returns; more frames for those connections wait
// with the first and leave together, in order, in one system call once a
// writer gets to them (a group commit). Nothing is written before that.
func TestBroadcastGroupCommit(t *testing.T) {
	e := newEnv(t, Config{})
	plain := e.connect("chat", "a", "")
	rel := e.connect("chat", "b", SubprotocolJSONReliable)
	attached(t, e, 2)

	w := &e.s.writers
	w.mu.Lock()
	w.running = maxFanoutWriters() // every writer is busy
	w.mu.Unlock()
	time.Sleep(50 * time.Millisecond) // the connected frames' writes are counted a moment after they arrive
	w0, f0 := e.s.WriteStats()
	for _, body := range []string{"m1", "m2", "m3"} {
		if code, _, b := e.rest("POST", "/api/hubs/chat/:send", "text/plain", []byte(body)); code != 202 {
			t.Fatalf("send %s: %d %s", body, code, b)
		}
	}
	plain.noMessage(100 * time.Millisecond)
	if w1, _ := e.s.WriteStats(); w1 != w0 {
		t.Fatalf("%d writes while every writer was busy, want none", w1-w0)
	}
	w.mu.Lock()
	queued := len(w.queue)
	w.mu.Unlock()
	if queued != 1 {
		t.Errorf("%d fan-outs queued, want 1 (the later ones find the connections claimed)", queued)
	}

	w.drain(nil) // a busy writer finishes and takes the queue
	for _, want := range []string{"m1", "m2", "m3"} {
		if _, b := plain.readRaw(); string(b) != want {
			t.Fatalf("plain client got %q, want %q", b, want)
		}
	}
	for i, want := range []string{"m1", "m2", "m3"} {
		m := rel.read()
		if m["data"] != want || m["sequenceId"] != float64(i+1) {
			t.Fatalf("reliable client got %v, want %s with sequenceId %d", m, want, i+1)
		}
	}
	if w1, f1 := e.s.WriteStats(); w1-w0 != 2 || f1-f0 != 6 {
		t.Errorf("%d writes carried %d frames, want 2 writes (one per client) of 3 frames each", w1-w0, f1-f0)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running != maxFanoutWriters()-1 || len(w.queue) != 0 {
		t.Errorf("after the drain: %d running, %d queued; want %d and 0", w.running, len(w.queue), maxFanoutWriters()-1)
	}
	w.running = 0
}

// A writer past its drain budget hands the rest of the queue to a goroutine
// of its own and returns (its REST call is answered); nothing is lost.
func TestBroadcastDrainBudget(t *testing.T) {
	defer func(b time.Duration) { drainBudget = b }(drainBudget)
	drainBudget = 0
	e := newEnv(t, Config{})
	var cls []*client
	for i := range 3 {
		cls = append(cls, e.connect("chat", fmt.Sprintf("u%d", i), ""))
	}
	attached(t, e, 3)
	w := &e.s.writers
	w.mu.Lock()
	w.running = maxFanoutWriters()
	w.mu.Unlock()
	// Three fan-outs to one connection each: three queued lists.
	for i := range 3 {
		path := fmt.Sprintf("/api/hubs/chat/users/u%d/:send", i)
		if code, _, b := e.rest("POST", path, "text/plain", []byte(fmt.Sprintf("to u%d", i))); code != 202 {
			t.Fatalf("send: %d %s", code, b)
		}
	}
	w.mu.Lock()
	queued := len(w.queue)
	w.mu.Unlock()
	if queued != 3 {
		t.Fatalf("%d lists queued, want 3", queued)
	}
	w.drain(nil) // writes one list, then hands over
	for i, cl := range cls {
		if _, b := cl.readRaw(); string(b) != fmt.Sprintf("to u%d", i) {
			t.Errorf("u%d got %q", i, b)
		}
	}
	eventually(t, "the handed-over writer to finish", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.running == maxFanoutWriters()-1 && len(w.queue) == 0
	})
	w.mu.Lock()
	w.running = 0
	w.mu.Unlock()
}

// attached waits until hub chat has n connections, each with its socket
// (a plain client's connection is listed a moment before its socket is
// attached; a message before that waits for the attach instead).
func attached(t *testing.T, e *testEnv, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d attached connections", n), func() bool {
		cs := e.s.hub("chat").connections()
		for _, c := range cs {
			if !c.hasSocket() {
				return false
			}
		}
		return len(cs) == n
	})
}
