package emulator

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// busyWriters marks every fan-out writer busy (as TestBroadcastGroupCommit
// does) and returns how to let one finish: it drains the queue, then the
// other marks are taken back.
func busyWriters(e *testEnv) (drain func()) {
	w := &e.s.writers
	w.mu.Lock()
	w.running += maxFanoutWriters()
	w.mu.Unlock()
	return func() {
		w.drain(nil)
		w.mu.Lock()
		w.running -= maxFanoutWriters() - 1
		w.mu.Unlock()
	}
}

// settledWriteStats is WriteStats once the writes already made are
// counted (a write is counted a moment after its bytes leave).
func settledWriteStats(e *testEnv) (writes, frames int64) {
	w, f := e.s.WriteStats()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		w2, f2 := e.s.WriteStats()
		if w2 == w && f2 == f {
			break
		}
		w, f = w2, f2
	}
	return w, f
}

func mqttPublish(t *testing.T, pub *pahoV5, topic string, qos byte, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(body)}); err != nil {
		t.Fatalf("PUBLISH %s: %v", body, err)
	}
}

// An MQTT publisher's reader does not wait for its fan-outs' writes: while
// a writer is busy, its next publishes join the frames of the first and
// leave with them, one system call per subscriber, in order.
func TestMQTTPublisherGroupCommit(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	var subs []*pahoV5
	for _, id := range []string{"s1", "s2"} {
		s, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: id, clean: true})
		if err != nil {
			t.Fatal(err)
		}
		s.sub(t, "t", 1)
		subs = append(subs, s)
	}
	pub, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "p", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	drain := busyWriters(e)
	for _, body := range []string{"m1", "m2", "m3"} {
		mqttPublish(t, pub, "t", 0, body)
	}
	mqttPublish(t, pub, "t", 1, "m4") // its PUBACK: the reader has handled every publish
	subs[0].none(t, 100*time.Millisecond)
	w := &e.s.writers
	w.mu.Lock()
	queued := len(w.queue)
	w.mu.Unlock()
	if queued != 1 {
		t.Errorf("%d fan-outs queued, want 1 (the later ones find the subscribers claimed)", queued)
	}
	w0, f0 := settledWriteStats(e)
	drain()
	for i, s := range subs {
		for j, want := range []string{"m1", "m2", "m3", "m4"} {
			m := s.next(t)
			if string(m.Payload) != want || m.Topic != "t" || m.QoS != byte(j/3) {
				t.Fatalf("subscriber %d got %q on %q at QoS %d, want %q on t at QoS %d", i+1, m.Payload, m.Topic, m.QoS, want, j/3)
			}
		}
	}
	if w1, f1 := e.s.WriteStats(); w1-w0 != 2 || f1-f0 != 8 {
		t.Errorf("%d writes carried %d frames, want 2 writes (one per subscriber) of 4 frames each", w1-w0, f1-f0)
	}
}

// A publisher with mqttMaxFanouts fan-outs unwritten is not read further
// until one is written: it is slowed down instead of queueing without
// bound. Nothing is lost.
func TestMQTTPublisherFanoutBound(t *testing.T) {
	defer func(n int) { mqttMaxFanouts = n }(mqttMaxFanouts)
	mqttMaxFanouts = 2
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	topics := []string{"t1", "t2", "t3"}
	var subs []*pahoV5
	for _, topic := range topics {
		s, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "s" + topic, clean: true})
		if err != nil {
			t.Fatal(err)
		}
		s.sub(t, topic, 1)
		subs = append(subs, s)
	}
	pub, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "p", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	drain := busyWriters(e)
	// Each publish reaches a subscriber of its own, so each fan-out has a
	// connection to write and holds its place until written: the third
	// waits, and the QoS 1 publish behind it is not answered.
	for _, topic := range topics {
		mqttPublish(t, pub, topic, 0, "to "+topic)
	}
	acked := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "t1", QoS: 1, Payload: []byte("last")})
		acked <- err
	}()
	select {
	case err := <-acked:
		t.Fatalf("the QoS 1 publish was answered (%v) while %d fan-outs were unwritten", err, mqttMaxFanouts)
	case <-time.After(300 * time.Millisecond):
	}
	drain()
	if err := <-acked; err != nil {
		t.Fatalf("PUBLISH after the writes: %v", err)
	}
	for i, s := range subs {
		if m := s.next(t); string(m.Payload) != "to "+topics[i] {
			t.Fatalf("subscriber of %s got %q", topics[i], m.Payload)
		}
	}
	if m := subs[0].next(t); string(m.Payload) != "last" {
		t.Fatalf("subscriber of t1 got %q, want last", m.Payload)
	}
}

// A QoS 1 fan-out shares one encoding: each subscriber still gets its own
// session's next packet id, the bytes otherwise identical, and an
// unacknowledged one comes back with the same id (DUP) after a reconnect.
func TestMQTTQoS1SharedEncodingIDs(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	a, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "a", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "b", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "p", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	// a's session is two ids ahead of b's.
	a.sub(t, "only", 1)
	for _, body := range []string{"x1", "x2"} {
		mqttPublish(t, pub, "only", 1, body)
		if m := a.next(t); m.PacketID != map[string]uint16{"x1": 1, "x2": 2}[body] {
			t.Fatalf("%s: packet id %d", body, m.PacketID)
		}
	}
	a.sub(t, "both", 1)
	b.sub(t, "both", 1)
	for i, body := range []string{"y1", "y2", "y3"} {
		mqttPublish(t, pub, "both", 1, body)
		ma, mb := a.next(t), b.next(t)
		if string(ma.Payload) != body || string(mb.Payload) != body || ma.Topic != "both" || mb.Topic != "both" || ma.QoS != 1 || mb.QoS != 1 {
			t.Fatalf("got %q on %q and %q on %q, want %q on both at QoS 1", ma.Payload, ma.Topic, mb.Payload, mb.Topic, body)
		}
		if ma.PacketID != uint16(3+i) || mb.PacketID != uint16(1+i) {
			t.Fatalf("%s: packet ids %d and %d, want %d and %d (each session's own)", body, ma.PacketID, mb.PacketID, 3+i, 1+i)
		}
	}
}

// A QoS 1 delivery to a session allocates nothing: the fan-out's one
// encoding is shared, the packet id written as the bytes are sent.
func TestMQTTDeliverAllocs(t *testing.T) {
	e := newEnv(t, Config{})
	h := e.s.hub("h")
	c := &conn{s: e.s, h: h, id: "c", groups: map[string]struct{}{}, attached: true}
	c.mq = newMQTTSession(c, mqttV5, &packets.Packet{}, 0)
	c.proto = c.mq
	c.mq.online = true
	c.mq.subscribe("g", mqttSub{qos: 1})
	d := &delivery{p: payload{dataType: dataBinary, data: []byte("payload")}, from: "group", group: "g"}
	deliver := func() {
		if ok, _ := c.mq.deliver(d); !ok {
			t.Fatal("deliver refused")
		}
		c.mq.mu.Lock()
		for id := range c.mq.inflight {
			delete(c.mq.inflight, id) // acknowledged
		}
		c.mq.mu.Unlock()
	}
	deliver() // encodes the PUBLISH once
	if n := testing.AllocsPerRun(100, deliver); n != 0 {
		t.Errorf("%.1f allocations per QoS 1 delivery, want 0", n)
	}
}
