package emulator

// Flow control (MQTT 5 Receive Maximum, both ways), subscription
// identifiers and session takeover, with paho.golang and paho.mqtt.golang.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestMQTTServerReceiveMaximum: the CONNACK advertises a Receive Maximum of
// 100; a client that keeps more QoS 2 publishes unreleased is disconnected
// with 0x93, and paho.golang, which honours the quota, is not, however many
// publishes it has going at once.
func TestMQTTServerReceiveMaximum(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)

	t.Run("paho.golang keeps to the quota", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "rm1", clean: true})
		if err != nil {
			t.Fatal(err)
		}
		if rm := c.ack.Properties.ReceiveMaximum; rm == nil || *rm != mqttServerReceiveMax {
			t.Fatalf("CONNACK Receive Maximum %v, want %d", rm, mqttServerReceiveMax)
		}
		c.sub(t, "flow", 2)
		const n = 250
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := c.Publish(ctx, &paho.Publish{Topic: "flow", QoS: 2, Payload: fmt.Appendf(nil, "m%d", i)}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("publish: %v", err)
		}
		seen := map[string]bool{}
		for range n {
			seen[string(c.next(t).Payload)] = true
		}
		assert.Equal(t, "distinct messages received", len(seen), n)
		select {
		case d := <-c.disc:
			t.Fatalf("server DISCONNECT %#x", d.ReasonCode)
		default:
		}
	})

	t.Run("over the quota", func(t *testing.T) {
		r := e.rawConnected(t, 5, "h", tok, "rm2")
		for id := uint16(1); id <= mqttServerReceiveMax; id++ {
			r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: id, TopicName: "flow", Payload: []byte("x"), ProtocolVersion: 5})
			pk, err := r.next()
			if err != nil || pk.FixedHeader.Type != packets.Pubrec || pk.PacketID != id {
				t.Fatalf("publish %d: %+v %v, want PUBREC", id, pk, err)
			}
		}
		// None released: the next one is one too many.
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: mqttServerReceiveMax + 1, TopicName: "flow", Payload: []byte("x"), ProtocolVersion: 5})
		got := r.closed()
		if len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != packets.ErrReceiveMaximum.Code {
			t.Fatalf("got %+v, want DISCONNECT 0x93 and the connection closed", got)
		}
	})

	t.Run("a released publish frees its place", func(t *testing.T) {
		r := e.rawConnected(t, 5, "h", tok, "rm3")
		for id := uint16(1); id <= mqttServerReceiveMax+50; id++ {
			r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: id, TopicName: "flow", Payload: []byte("x"), ProtocolVersion: 5})
			if pk, err := r.next(); err != nil || pk.FixedHeader.Type != packets.Pubrec {
				t.Fatalf("publish %d: %+v %v, want PUBREC", id, pk, err)
			}
			r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id, ProtocolVersion: 5})
			if pk, err := r.next(); err != nil || pk.FixedHeader.Type != packets.Pubcomp || pk.ReasonCode != 0 {
				t.Fatalf("release %d: %+v %v, want PUBCOMP", id, pk, err)
			}
		}
	})
}

// TestMQTTClientReceiveMaximum: a client's Receive Maximum bounds the QoS 1
// publishes in flight to it; the rest wait, in order, and each
// acknowledgement lets the next one go.
func TestMQTTClientReceiveMaximum(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny)
	c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "slow1", clean: true, receiveMax: 2, manualAck: true})
	if err != nil {
		t.Fatal(err)
	}
	c.sub(t, "q", 1)
	for i := range 5 {
		e.rest("POST", "/api/hubs/h/groups/q/:send?api-version=2024-12-01", "text/plain", fmt.Appendf(nil, "m%d", i))
	}
	first := []*paho.Publish{c.next(t), c.next(t)}
	c.none(t, 300*time.Millisecond) // two in flight, three waiting
	assert.Equal(t, "first in flight", string(first[0].Payload), "m0")
	assert.Equal(t, "second in flight", string(first[1].Payload), "m1")
	for i, want := range []string{"m2", "m3", "m4"} {
		if err := c.Ack(first[i]); err != nil {
			t.Fatal(err)
		}
		m := c.next(t)
		assert.Equal(t, "next after an ack", string(m.Payload), want)
		c.none(t, 100*time.Millisecond)
		first = append(first, m)
	}
}

// TestMQTTSubscriptionIdentifiers: the CONNACK does not refuse them (paho
// checks before it sends one), and each PUBLISH carries the identifier of
// the subscription it matched, whoever sent it; a resubscription without one
// clears it.
func TestMQTTSubscriptionIdentifiers(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "sid1", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "sid2", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.ack.Properties.SubIDAvailable {
		t.Fatal("CONNACK says subscription identifiers are not available")
	}
	subscribe := func(p *pahoV5, topic string, id int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}
		if id > 0 {
			s.Properties = &paho.SubscribeProperties{SubscriptionIdentifier: &id}
		}
		sa, err := p.Subscribe(ctx, s)
		if err != nil {
			t.Fatalf("SUBSCRIBE %s id %d: %v", topic, id, err)
		}
		assert.Equal(t, "SUBACK code", sa.Reasons[0], byte(1))
	}
	subscribe(c, "a", 7)
	subscribe(c, "b", 268435455)
	subscribe(other, "a", 7)
	subID := func(m *paho.Publish) int {
		if m.Properties == nil || m.Properties.SubscriptionIdentifier == nil {
			return 0
		}
		return *m.Properties.SubscriptionIdentifier
	}
	pub := func(topic, data string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := other.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, topic, data string
		rest              bool
		want              int
	}{
		{"MQTT publish", "a", "one", false, 7},
		{"largest identifier", "b", "two", false, 268435455},
		{"REST send to the group", "a", "three", true, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rest {
				e.rest("POST", "/api/hubs/h/groups/"+tc.topic+"/:send?api-version=2024-12-01", "text/plain", []byte(tc.data))
			} else {
				pub(tc.topic, tc.data)
			}
			m := c.next(t)
			assert.Equal(t, "payload", string(m.Payload), tc.data)
			assert.Equal(t, "subscription identifier", subID(m), tc.want)
			if tc.topic == "a" {
				assert.Equal(t, "the other session's subscription identifier", subID(other.next(t)), 7) // its own subscription, encoded once for both
			}
		})
	}
	t.Run("resubscribed without one", func(t *testing.T) {
		subscribe(c, "b", 0)
		pub("b", "four")
		m := c.next(t)
		assert.Equal(t, "payload", string(m.Payload), "four")
		assert.Equal(t, "subscription identifier", subID(m), 0)
	})
	t.Run("identifier 0 is a protocol error", func(t *testing.T) {
		r := e.rawConnected(t, 5, "h", tok, "sid3")
		// By hand: mochi's encoder leaves an identifier of 0 out. Packet
		// id 1, properties {0x0B: 0}, filter "a" at QoS 1.
		r.send([]byte{0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 'a', 0x01})
		got := r.closed()
		if len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != packets.ErrProtocolViolation.Code {
			t.Fatalf("got %+v, want DISCONNECT 0x82", got)
		}
	})
}
