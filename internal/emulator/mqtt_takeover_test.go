package emulator

import (
	"strconv"
	"strings"
	"testing"
	"time"

	pahomqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestMQTTSessionTakeover: a CONNECT with a client id whose session still
// has its network connection open takes the session over. The old 5.0
// connection gets DISCONNECT 0x8E first. A resumed session goes on (no
// disconnected event, Session Present 1); a clean start ends the old
// session, and its disconnected event says the service ended it with 0x8E.
func TestMQTTSessionTakeover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clean bool
	}{
		{"resumed", false},
		{"clean start", true},
	} {
		t.Run("5.0 "+tc.name, func(t *testing.T) {
			rec, srv := newMQTTRecorder(t)
			e := newEnv(t, Config{Hubs: mqttHubWith(srv.URL)})
			old, err := e.pahoV5(t, "h", "", pahoV5Opts{clientID: "tk5", clean: true, sessionExpiry: 30})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "connected", func() bool { _, cd, _ := rec.snapshot(); return len(cd) == 1 })
			c, err := e.pahoV5(t, "h", "", pahoV5Opts{clientID: "tk5", clean: tc.clean, sessionExpiry: 30})
			if err != nil {
				t.Fatal(err)
			}
			d := old.serverDisconnect(t)
			assert.Equal(t, "DISCONNECT reason code", d.ReasonCode, packets.ErrSessionTakenOver.Code)
			if d.Properties == nil || !strings.Contains(d.Properties.ReasonString, "taken over") {
				t.Errorf("DISCONNECT properties %+v, want a reason string", d.Properties)
			}
			select {
			case <-old.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the old connection stays open")
			}
			assert.Equal(t, "Session Present", c.ack.SessionPresent, !tc.clean)
			if tc.clean {
				eventually(t, "disconnected", func() bool { _, _, dis := rec.snapshot(); return len(dis) == 1 })
				_, cd, dis := rec.snapshot()
				assert.Contains(t, "disconnected reason", dis[0].Reason, "SessionTakenOver")
				assert.Equal(t, "disconnected mqtt", dis[0].MQTT, &cloudevents.MQTTDisconnectedProperties{
					InitiatedByClient: false, DisconnectPacket: &cloudevents.MQTTDisconnectPacket{Code: 0x8E}})
				assert.Equal(t, "session of the disconnected event", dis[0].SessionID, cd[0].SessionID)
				eventually(t, "a new session's connected", func() bool { _, cd, _ := rec.snapshot(); return len(cd) == 2 })
			} else {
				time.Sleep(100 * time.Millisecond) // a disconnected event would be on its way
				_, cd, dis := rec.snapshot()
				assert.Equal(t, "connected events", len(cd), 1)
				assert.Equal(t, "disconnected events", len(dis), 0)
			}
			// The session's new connection works.
			e.rest("POST", "/api/hubs/h/connections/tk5/:send?api-version=2024-12-01", "text/plain", []byte("still here"))
			m := c.next(t)
			assert.Equal(t, "topic", m.Topic, mqttServerMessages)
			assert.Equal(t, "payload", string(m.Payload), "still here")
		})
	}

	for _, tc := range []struct {
		name  string
		clean bool
	}{
		{"resumed", false},
		{"clean start", true},
	} {
		t.Run("3.1.1 "+tc.name, func(t *testing.T) {
			rec, srv := newMQTTRecorder(t)
			e := newEnv(t, Config{Hubs: mqttHubWith(srv.URL)})
			lost := make(chan error, 1)
			opts := pahomqtt.NewClientOptions().AddBroker(e.mqttURL("h", "")).SetClientID("tk3").
				SetProtocolVersion(4).SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).
				SetKeepAlive(30 * time.Second).SetConnectTimeout(5 * time.Second).
				SetConnectionLostHandler(func(_ pahomqtt.Client, err error) { lost <- err })
			old := pahomqtt.NewClient(opts)
			if tok := old.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("CONNECT: %v", tok.Error())
			}
			t.Cleanup(func() { old.Disconnect(0) })
			eventually(t, "connected", func() bool { _, cd, _ := rec.snapshot(); return len(cd) == 1 })
			// The new connection, raw: its CONNACK's Session Present flag.
			r := e.rawMQTT(t, "h", "")
			r.v = 4
			cp := connectPacket(4, "tk3", 30)
			cp.Connect.Clean = tc.clean
			r.sendPacket(cp)
			ack, err := r.next()
			if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %+v %v", ack, err)
			}
			assert.Equal(t, "Session Present", ack.SessionPresent, !tc.clean)
			select {
			case err := <-lost:
				// paho.mqtt.golang reports a DISCONNECT from the server as
				// such; a plain close is an EOF.
				if err == nil || strings.Contains(err.Error(), "disconnect") {
					t.Errorf("connection lost with %v, want the socket closed without a packet", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the old connection stays open")
			}
			if tc.clean {
				eventually(t, "disconnected", func() bool { _, _, dis := rec.snapshot(); return len(dis) == 1 })
				_, _, dis := rec.snapshot()
				assert.Contains(t, "disconnected reason", dis[0].Reason, "SessionTakenOver")
				assert.Equal(t, "disconnected mqtt", dis[0].MQTT, &cloudevents.MQTTDisconnectedProperties{})
			} else {
				time.Sleep(100 * time.Millisecond)
				_, _, dis := rec.snapshot()
				assert.Equal(t, "disconnected events", len(dis), 0)
			}
		})
	}
}

// TestMQTTResumeAcrossVersions: a session resumed at another protocol level
// gets what waited for it encoded for the new level (a 3.1.1 PUBLISH has no
// properties; a 5.0 client would read its topic's tail as them), in order,
// and a message expiry carried over to 5.0.
func TestMQTTResumeAcrossVersions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to byte
	}{
		{"3.1.1 to 5.0", 4, 5},
		{"5.0 to 3.1.1", 5, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny)
			const id = "vc"
			connect := func(v byte) {
				t.Helper()
				if v == 4 {
					c, err := e.pahoV3(t, "h", tok, id, false, nil)
					if err != nil {
						t.Fatal(err)
					}
					if tk := c.Subscribe("vq", 1, nil); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
						t.Fatalf("SUBSCRIBE: %v", tk.Error())
					}
					return
				}
				c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: id, clean: true, sessionExpiry: 60})
				if err != nil {
					t.Fatal(err)
				}
				c.sub(t, "vq", 1)
			}
			connect(tc.from)
			e.s.DropSocket(id)
			eventually(t, "the session offline", func() bool { return !e.s.hub("h").conn(id).mq.isOnline() })
			for i, ttl := range []string{"", "&messageTtlSeconds=120"} {
				if code, _, body := e.rest("POST", "/api/hubs/h/groups/vq/:send?api-version=2024-12-01"+ttl, "text/plain", []byte{'m', byte('0' + i)}); code != 202 {
					t.Fatalf("send: %d %s", code, body)
				}
			}
			var got []string
			if tc.to == 5 {
				c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: id, clean: false, sessionExpiry: 60})
				if err != nil || !c.ack.SessionPresent {
					t.Fatalf("resume: %+v %v", c.ack, err)
				}
				for range 2 {
					m := c.next(t)
					exp := uint32(0)
					if m.Properties != nil && m.Properties.MessageExpiry != nil {
						exp = *m.Properties.MessageExpiry
					}
					got = append(got, m.Topic+" "+string(m.Payload)+" expiry "+strconv.Itoa(int(exp)))
				}
				assert.Equal(t, "messages", got, []string{"vq m0 expiry 0", "vq m1 expiry 120"})
				return
			}
			// A raw 3.1.1 client: paho.mqtt.golang's handlers may run out of
			// order, and the order is part of what is checked.
			r := e.rawMQTT(t, "h", tok)
			r.v = 4
			cp := connectPacket(4, id, 30)
			cp.Connect.Clean = false
			r.sendPacket(cp)
			if ack, err := r.next(); err != nil || ack.FixedHeader.Type != packets.Connack || !ack.SessionPresent {
				t.Fatalf("resume: %+v %v", ack, err)
			}
			for range 2 {
				pk, err := r.next()
				if err != nil || pk.FixedHeader.Type != packets.Publish {
					t.Fatalf("got %q, then %+v %v", got, pk, err)
				}
				got = append(got, pk.TopicName+" "+string(pk.Payload))
			}
			assert.Equal(t, "messages", got, []string{"vq m0", "vq m1"})
		})
	}
}
