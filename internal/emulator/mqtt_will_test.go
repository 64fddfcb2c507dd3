package emulator

// Wills and MQTT 5 message expiry, with paho.golang, paho.mqtt.golang and a
// WebSocket client in the will's group.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahomqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestMQTTWill: a will goes to its topic's group (MQTT subscribers and
// WebSocket members alike) when the network connection ends without
// DISCONNECT 0x00: on a drop, on DISCONNECT 0x04, when another connection
// takes the session over or the service closes the connection; a will
// delay holds it back, and a resume within the delay cancels it.
func TestMQTTWill(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "dev", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	watcher, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "watcher", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	watcher.sub(t, "alarms", 1)
	ws := e.connect("h", "web", SubprotocolJSON, wps.RoleJoinLeaveGroupAny)
	ws.send(map[string]any{"type": "joinGroup", "group": "alarms", "ackId": 1})
	ws.read() // ack
	will := func(payload string) *paho.WillMessage {
		return &paho.WillMessage{Topic: "alarms", QoS: 1, Payload: []byte(payload)}
	}
	expectWill := func(t *testing.T, payload string) {
		t.Helper()
		m := watcher.next(t)
		assert.Equal(t, "will topic", m.Topic, "alarms")
		assert.Equal(t, "will payload", string(m.Payload), payload)
		msg := ws.read()
		assert.Equal(t, "WebSocket message", [3]any{msg["group"], msg["dataType"], msg["data"]},
			[3]any{"alarms", "binary", base64.StdEncoding.EncodeToString([]byte(payload))})
	}

	t.Run("sent on a drop", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w1", clean: true, will: will("w1 lost")})
		if err != nil {
			t.Fatal(err)
		}
		e.s.DropSocket("w1")
		<-c.Done()
		expectWill(t, "w1 lost")
	})
	t.Run("not sent on DISCONNECT 0x00", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w2", clean: true, will: will("w2 lost")})
		if err != nil {
			t.Fatal(err)
		}
		c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		watcher.none(t, 300*time.Millisecond)
	})
	t.Run("sent on DISCONNECT 0x04", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w3", clean: true, will: will("w3 asked")})
		if err != nil {
			t.Fatal(err)
		}
		c.Disconnect(&paho.Disconnect{ReasonCode: 0x04})
		expectWill(t, "w3 asked")
	})
	t.Run("delayed", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w4", clean: true, sessionExpiry: 30, will: will("w4 late"), willDelay: 1})
		if err != nil {
			t.Fatal(err)
		}
		dropped := time.Now()
		e.s.DropSocket("w4")
		<-c.Done()
		expectWill(t, "w4 late")
		if d := time.Since(dropped); d < time.Second {
			t.Fatalf("will after %v, want the 1 s delay", d)
		}
	})
	t.Run("cancelled by a resume within the delay", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w5", clean: true, sessionExpiry: 30, will: will("w5 never"), willDelay: 2})
		if err != nil {
			t.Fatal(err)
		}
		e.s.DropSocket("w5")
		<-c.Done()
		c2, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w5", clean: false, sessionExpiry: 30})
		if err != nil || !c2.ack.SessionPresent {
			t.Fatalf("resume: %+v %v", c2.ack, err)
		}
		watcher.none(t, 2500*time.Millisecond)
	})
	t.Run("delayed past the session's end: sent when it ends", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w6", clean: true, sessionExpiry: 1, will: will("w6 ended"), willDelay: 60})
		if err != nil {
			t.Fatal(err)
		}
		e.s.DropSocket("w6")
		<-c.Done()
		expectWill(t, "w6 ended")
	})
	t.Run("sent when a resuming CONNECT takes the connection over", func(t *testing.T) {
		old, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w9", clean: true, sessionExpiry: 30, will: will("w9 taken over")})
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w9", clean: false, sessionExpiry: 30, will: will("w9 new")})
		if err != nil || !c.ack.SessionPresent {
			t.Fatalf("resume: %+v %v", c.ack, err)
		}
		<-old.Done()
		expectWill(t, "w9 taken over")
		// The new connection's will is its own, sent when it is lost.
		e.s.DropSocket("w9")
		<-c.Done()
		expectWill(t, "w9 new")
	})
	t.Run("a delayed will is cancelled by a takeover that resumes", func(t *testing.T) {
		old, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w10", clean: true, sessionExpiry: 30, will: will("w10 never"), willDelay: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w10", clean: false, sessionExpiry: 30}); err != nil {
			t.Fatal(err)
		}
		<-old.Done()
		watcher.none(t, 1500*time.Millisecond)
	})
	t.Run("sent when a clean start takes the connection over", func(t *testing.T) {
		old, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w11", clean: true, sessionExpiry: 30, will: will("w11 replaced"), willDelay: 60})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w11", clean: true}); err != nil {
			t.Fatal(err)
		}
		<-old.Done()
		expectWill(t, "w11 replaced")
	})
	t.Run("sent when the service closes the connection", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w12", clean: true, sessionExpiry: 30, will: will("w12 closed")})
		if err != nil {
			t.Fatal(err)
		}
		if code, _, body := e.rest("DELETE", "/api/hubs/h/connections/w12?reason=maintenance", "", nil); code != 204 {
			t.Fatalf("close connection: %d %s", code, body)
		}
		<-c.Done()
		expectWill(t, "w12 closed")
	})
	t.Run("3.1.1, sent on a drop", func(t *testing.T) {
		opts := pahomqtt.NewClientOptions().AddBroker(e.mqttURL("h", tok)).SetClientID("w7").
			SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
			SetKeepAlive(30*time.Second).SetConnectTimeout(5*time.Second).SetWill("alarms", "w7 lost", 1, false)
		c := pahomqtt.NewClient(opts)
		if tk := c.Connect(); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("CONNECT: %v", tk.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		e.s.DropSocket("w7")
		expectWill(t, "w7 lost")
	})
	t.Run("not sent without permission for its topic", func(t *testing.T) {
		tok := e.mqttToken("h", "nobody")
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "w8", clean: true, will: will("w8 lost")})
		if err != nil {
			t.Fatal(err)
		}
		e.s.DropSocket("w8")
		<-c.Done()
		watcher.none(t, 300*time.Millisecond)
	})
}

// TestMQTTMessageExpiry: messages queued for an offline session, or behind
// the client's receive window, leave with the expiry they have left; those
// whose expiry passed are not sent.
func TestMQTTMessageExpiry(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, Config{now: clock.now})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	pub, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "pub", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(topic, data string, expiry uint32) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p := &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(data)}
		if expiry > 0 {
			p.Properties = &paho.PublishProperties{MessageExpiry: &expiry}
		}
		if _, err := pub.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	expiryOf := func(m *paho.Publish) uint32 {
		if m.Properties == nil || m.Properties.MessageExpiry == nil {
			return 0
		}
		return *m.Properties.MessageExpiry
	}

	t.Run("offline session", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "exp1", clean: true, sessionExpiry: 30})
		if err != nil {
			t.Fatal(err)
		}
		c.sub(t, "q1", 1)
		e.s.DropSocket("exp1")
		<-c.Done()
		// The client sees the close before the server's read fails: a
		// publish in between would start onward delivery (inflight, resent
		// on resume) instead of queueing for the offline session.
		eventually(t, "the session offline", func() bool { return !e.s.hub("h").conn("exp1").mq.isOnline() })
		publish("q1", "short", 5)
		publish("q1", "long", 60)
		publish("q1", "forever", 0)
		clock.advance(10 * time.Second)
		c2, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "exp1", clean: false, sessionExpiry: 30})
		if err != nil || !c2.ack.SessionPresent {
			t.Fatalf("resume: %+v %v", c2.ack, err)
		}
		m := c2.next(t)
		assert.Equal(t, "first payload", string(m.Payload), "long")
		assert.Equal(t, "its expiry left", expiryOf(m), 50)
		m = c2.next(t)
		assert.Equal(t, "second payload", string(m.Payload), "forever")
		assert.Equal(t, "its expiry", expiryOf(m), 0)
		c2.none(t, 200*time.Millisecond)
	})
	t.Run("behind the receive window", func(t *testing.T) {
		c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "exp2", clean: true, receiveMax: 1, manualAck: true})
		if err != nil {
			t.Fatal(err)
		}
		c.sub(t, "q2", 1)
		publish("q2", "first", 0)
		publish("q2", "dies", 3)
		publish("q2", "lives", 30)
		first := c.next(t)
		assert.Equal(t, "in flight", string(first.Payload), "first")
		clock.advance(4 * time.Second)
		if err := c.Ack(first); err != nil {
			t.Fatal(err)
		}
		m := c.next(t)
		assert.Equal(t, "after the ack", string(m.Payload), "lives")
		assert.Equal(t, "its expiry left", expiryOf(m), 26)
	})
}

// TestMQTTExpiryOffset: the Message Expiry Interval is found in mochi's
// encoding with and without the properties around it, and rewritten in
// place.
func TestMQTTExpiryOffset(t *testing.T) {
	for _, tc := range []struct {
		name   string
		props  packets.Properties
		expiry bool
	}{
		{"expiry only", packets.Properties{MessageExpiryInterval: 60}, true},
		{"after the payload format", packets.Properties{PayloadFormat: 1, PayloadFormatFlag: true, MessageExpiryInterval: 60, ContentType: "text/plain"}, true},
		{"none", packets.Properties{ContentType: "text/plain"}, false},
		{"no properties", packets.Properties{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t", PacketID: 1,
				ProtocolVersion: 5, Payload: []byte{0x02, 0, 0, 0, 9}, Properties: tc.props}
			b, err := encodeMQTT(&pk)
			if err != nil {
				t.Fatal(err)
			}
			off := mqttExpiryOffset(b, mqttPacketIDOffset(b))
			assert.Equal(t, "found", off > 0, tc.expiry)
			if off == 0 {
				return
			}
			setMQTTExpiry(b, off, int64(1500*time.Millisecond))
			got, err := readMQTTPacket(bufio.NewReader(bytes.NewReader(b)), 5, len(b))
			if err != nil {
				t.Fatal(err)
			}
			assert.Equal(t, "rewritten expiry", got.Properties.MessageExpiryInterval, uint32(2))
			assert.Equal(t, "content type", got.Properties.ContentType, tc.props.ContentType)
		})
	}
}
