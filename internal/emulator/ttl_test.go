package emulator

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a TTL clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour)) // any non-zero start
	return c
}

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestMessageTTLReliableResume: a reliable client loses its socket; each
// of the four REST sends delivers one message with messageTtlSeconds=1,
// then one message without a TTL is sent. Resumed after the TTL, the client
// gets only the message without one (its sequence id after a gap, which it
// can acknowledge); resumed before, it gets all five in order.
func TestMessageTTLReliableResume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		elapsed time.Duration
		want    []string // data of the messages received after resuming
		seqs    []float64
	}{
		{"expired", time.Second, []string{"keep"}, []float64{5}},
		{"in time", time.Second - time.Millisecond, []string{"all", "user", "group", "connection", "keep"}, []float64{1, 2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			e := newEnv(t, Config{now: clock.now})
			_, id, rt := e.connectReliable(t, "rel", "webpubsub.joinLeaveGroup")
			if st, _, _ := e.rest("PUT", "/api/hubs/chat/groups/g/connections/"+id, "", nil); st != 200 {
				t.Fatalf("add to group: %d", st)
			}
			if !e.s.DropSocket(id) {
				t.Fatal("DropSocket found no socket")
			}
			eventually(t, "socket detached", func() bool { return !e.s.hub("chat").conn(id).hasSocket() })

			for _, s := range []struct{ path, data string }{
				{"/api/hubs/chat/:send", "all"},
				{"/api/hubs/chat/users/rel/:send", "user"},
				{"/api/hubs/chat/groups/g/:send", "group"},
				{"/api/hubs/chat/connections/" + id + "/:send", "connection"},
			} {
				if st, _, b := e.rest("POST", s.path+"?messageTtlSeconds=1", "text/plain", []byte(s.data)); st != 202 {
					t.Fatalf("POST %s: %d %s", s.path, st, b)
				}
			}
			if st, _, b := e.rest("POST", "/api/hubs/chat/connections/"+id+"/:send", "text/plain", []byte("keep")); st != 202 {
				t.Fatalf("send without TTL: %d %s", st, b)
			}
			clock.advance(tc.elapsed)

			c2, _, err := e.dial("chat", "", SubprotocolJSONReliable, "awps_connection_id="+id+"&awps_reconnection_token="+rt)
			if err != nil {
				t.Fatal(err)
			}
			cl2 := newClient(t, c2)
			defer c2.CloseNow()
			if m := cl2.read(); m["event"] != "connected" || m["connectionId"] != id {
				t.Fatalf("after recovery: %v", m)
			}
			for i, want := range tc.want {
				m := cl2.read()
				if m["type"] != "message" || m["data"] != want || m["sequenceId"] != tc.seqs[i] {
					t.Fatalf("recovered message %d = %v, want data %q sequenceId %v", i, m, want, tc.seqs[i])
				}
			}
			cl2.noMessage(100 * time.Millisecond)

			// Acknowledging the highest id seen empties the resend buffer,
			// the skipped ids included.
			cl2.send(map[string]any{"type": "sequenceAck", "sequenceId": tc.seqs[len(tc.seqs)-1]})
			eventually(t, "ack processed", func() bool {
				conn := e.s.hub("chat").conn(id)
				conn.omu.Lock()
				defer conn.omu.Unlock()
				return len(conn.unacked) == 0 && conn.unackedBytes == 0
			})
			// Sequence ids go on after the gap.
			e.rest("POST", "/api/hubs/chat/:send", "text/plain", []byte("next"))
			if m := cl2.read(); m["data"] != "next" || m["sequenceId"] != float64(6) {
				t.Fatalf("after the ack: %v, want data next sequenceId 6", m)
			}
		})
	}
}

// TestMessageTTLSlowClient: a client that does not read fills its socket,
// so later messages wait in its queue. Once the client reads, a queued
// message whose TTL passed is not delivered; one within its TTL and one
// without a TTL are, in order.
func TestMessageTTLSlowClient(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Config{now: clock.now})
	c, _, err := e.dial("chat", e.token("chat", "slow"), SubprotocolJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var conn *conn
	eventually(t, "connection", func() bool {
		for _, cn := range e.s.hub("chat").connections() {
			conn = cn
		}
		return conn != nil
	})
	queued := func(pred func(outMsg) bool) bool {
		conn.omu.Lock()
		defer conn.omu.Unlock()
		for _, m := range conn.pending {
			if pred(m) {
				return true
			}
		}
		return false
	}
	// Fill the socket's buffers until messages stay in the queue (the
	// writer is blocked on the socket).
	any := func(outMsg) bool { return true }
	stuck := func() bool {
		if !queued(any) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
		return queued(any)
	}
	filler := bytes.Repeat([]byte("f"), 256<<10)
	fillers := 0
	for ; fillers < 200 && !stuck(); fillers++ {
		if st, _, b := e.rest("POST", "/api/hubs/chat/connections/"+conn.id+"/:send", "text/plain", filler); st != 202 {
			t.Fatalf("filler: %d %s", st, b)
		}
	}
	if !queued(any) {
		t.Fatalf("nothing queued after %d fillers of %d bytes", fillers, len(filler))
	}
	for _, s := range []struct{ query, data string }{
		{"?messageTtlSeconds=1", "expired"},
		{"?messageTtlSeconds=300", "fresh"},
		{"", "marker"},
	} {
		if st, _, b := e.rest("POST", "/api/hubs/chat/connections/"+conn.id+"/:send"+s.query, "text/plain", []byte(s.data)); st != 202 {
			t.Fatalf("send %s: %d %s", s.data, st, b)
		}
	}
	if !queued(func(m outMsg) bool { return bytes.Contains(m.data, []byte(`"expired"`)) }) {
		t.Fatal("precondition: the TTL message is not waiting in the queue")
	}
	clock.advance(1500 * time.Millisecond)

	cl := newClient(t, c) // now the client reads
	if m := cl.read(); m["event"] != "connected" {
		t.Fatalf("first message = %v", m)
	}
	var got []string
	for {
		m := cl.read()
		d, _ := m["data"].(string)
		if strings.HasPrefix(d, "f") && len(d) == len(filler) {
			got = append(got, "filler")
			continue
		}
		got = append(got, d)
		if d == "marker" {
			break
		}
	}
	want := append(slicesRepeat("filler", fillers), "fresh", "marker")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("received %d messages ending %v, want %d fillers then [fresh marker]", len(got), got[max(0, len(got)-3):], fillers)
	}
	cl.noMessage(100 * time.Millisecond)
	conn.omu.Lock()
	ended := conn.ended
	conn.omu.Unlock()
	if ended {
		t.Fatal("the slow client was disconnected")
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
