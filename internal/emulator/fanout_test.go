package emulator

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Concurrent broadcasts, written inline by the REST handlers (flushInline),
// by the sockets' writeLoops or, when coalescing, by the coalescer, reach
// every protocol whole and in each sender's order; reliable clients see
// consecutive sequence ids.
func TestBroadcastConcurrentOrder(t *testing.T) {
	for _, window := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run(fmt.Sprintf("coalesce=%s", window), func(t *testing.T) {
			testBroadcastConcurrentOrder(t, Config{CoalesceWindow: window})
		})
	}
}

func testBroadcastConcurrentOrder(t *testing.T, cfg Config) {
	e := newEnv(t, cfg)
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
	stalled := newClient(t, sc)
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
