package emulator

import (
	"fmt"
	"testing"
	"time"
)

// With CoalesceWindow, the first message after a quiet spell goes out at
// once; messages that follow within the window wait until it has passed
// and leave together in one system call, in order; a connection that has
// been quiet for a window is not delayed again.
func TestCoalesceWindow(t *testing.T) {
	const window = 400 * time.Millisecond
	e := newEnv(t, Config{CoalesceWindow: window})
	cl := e.connect("chat", "a", SubprotocolJSON)
	send := func(body string) {
		t.Helper()
		if code, _, b := e.rest("POST", "/api/hubs/chat/:send", "text/plain", []byte(body)); code != 202 {
			t.Fatalf("send %s: %d %s", body, code, b)
		}
	}
	expect := func(body string) time.Time {
		t.Helper()
		m := cl.read()
		if m["type"] != "message" || m["data"] != body {
			t.Fatalf("got %v, want message %q", m, body)
		}
		return time.Now()
	}

	// The connected message was a write: let its window pass.
	time.Sleep(window + window/2)
	start := time.Now()
	send("m1")
	if got := expect("m1").Sub(start); got >= window {
		t.Errorf("the first message took %s: it must not wait for a window (%s)", got, window)
	}
	// The client may read a frame a moment before its write is counted.
	time.Sleep(window / 8)
	w0, f0 := e.s.WriteStats()
	for i := 2; i <= 4; i++ {
		send(fmt.Sprintf("m%d", i))
	}
	if got := expect("m2").Sub(start); got < window {
		t.Errorf("m2 arrived %s after m1 was sent: it should have waited for the window (%s)", got, window)
	}
	expect("m3")
	expect("m4")
	time.Sleep(window / 8)
	if w1, f1 := e.s.WriteStats(); w1-w0 != 1 || f1-f0 != 3 {
		t.Errorf("m2..m4 took %d writes carrying %d frames, want 1 write of 3", w1-w0, f1-f0)
	}

	time.Sleep(window + window/2) // quiet for more than a window
	quiet := time.Now()
	send("m5")
	if got := expect("m5").Sub(quiet); got >= window {
		t.Errorf("after a quiet spell m5 took %s: it must not wait for a window (%s)", got, window)
	}

	// The sweeping goroutine ends once nothing is held.
	eventually(t, "the coalescer to stop", func() bool {
		e.s.co.mu.Lock()
		defer e.s.co.mu.Unlock()
		return !e.s.co.running && e.s.co.held == 0
	})
}

// Held frames are not lost when the server shuts down: they go out before
// the disconnected message.
func TestCoalesceShutdownFlushes(t *testing.T) {
	e := newEnv(t, Config{CoalesceWindow: time.Hour})
	cl := e.connect("chat", "a", SubprotocolJSON)
	// The connected message was written just now, so these are held for an hour.
	for _, body := range []string{"m1", "m2", "m3"} {
		if code, _, b := e.rest("POST", "/api/hubs/chat/:send", "text/plain", []byte(body)); code != 202 {
			t.Fatalf("send %s: %d %s", body, code, b)
		}
	}
	cl.noMessage(100 * time.Millisecond)
	go e.s.Shutdown(t.Context())
	_, msgs := cl.closeStatus()
	var got []any
	for _, m := range msgs {
		if m["type"] == "message" {
			got = append(got, m["data"])
		} else {
			got = append(got, m["event"])
		}
	}
	if fmt.Sprint(got) != "[m1 m2 m3 disconnected]" {
		t.Errorf("after shutdown the client got %v, want [m1 m2 m3 disconnected]", got)
	}
}
