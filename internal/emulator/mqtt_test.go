package emulator

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// A payload with every byte value, to check payloads byte for byte.
var mqttBinary = func() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

func TestMQTTv5PublishSubscribeQoS(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u1", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	sub, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "sub1", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	if sub.ack.Properties == nil || sub.ack.Properties.RetainAvailable || sub.ack.Properties.WildcardSubAvailable ||
		sub.ack.Properties.SharedSubAvailable || (sub.ack.Properties.TopicAliasMaximum != nil && *sub.ack.Properties.TopicAliasMaximum != 0) {
		t.Errorf("CONNACK properties %+v: want retain, wildcard and shared subscriptions unavailable, no topic alias", sub.ack.Properties)
	}
	pub, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "pub1", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, subQoS := range []byte{0, 1, 2} {
		topic := "t" + string('0'+rune(subQoS))
		if sa := sub.sub(t, topic, subQoS); sa.Reasons[0] != subQoS {
			t.Fatalf("SUBACK %x, want granted QoS %d", sa.Reasons, subQoS)
		}
		for _, pubQoS := range []byte{0, 1, 2} {
			t.Run("sub"+string('0'+rune(subQoS))+"/pub"+string('0'+rune(pubQoS)), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				ct := "application/octet-stream"
				_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: pubQoS, Payload: mqttBinary,
					Properties: &paho.PublishProperties{ContentType: ct, User: paho.UserProperties{{Key: "k", Value: "v"}}}})
				if err != nil {
					t.Fatalf("PUBLISH: %v", err)
				}
				m := sub.next(t)
				if m.Topic != topic || !bytes.Equal(m.Payload, mqttBinary) {
					t.Fatalf("got %q %d bytes, want %q and the payload byte for byte", m.Topic, len(m.Payload), topic)
				}
				if want := min(subQoS, pubQoS); m.QoS != want {
					t.Errorf("delivered at QoS %d, want %d", m.QoS, want)
				}
				if m.Properties == nil || m.Properties.ContentType != ct || m.Properties.User.Get("k") != "v" {
					t.Errorf("properties %+v: want the content type and user property passed on", m.Properties)
				}
			})
		}
	}
}

func TestMQTTConnectRefusedToken(t *testing.T) {
	e := newEnv(t, Config{})
	bad := sign(t, e.claims("h", "u"), "not-the-key") // also the wrong audience
	wrongAud := e.token("h", "u")                     // a WebSocket client's token
	for _, tc := range []struct{ name, token string }{{"bad signature", bad}, {"WebSocket audience", wrongAud}, {"no token", ""}} {
		t.Run("v5/"+tc.name, func(t *testing.T) {
			c, err := e.pahoV5(t, "h", tc.token, pahoV5Opts{clientID: "c1", clean: true})
			if err == nil {
				t.Fatal("connected")
			}
			if c.ack == nil || c.ack.ReasonCode != 0x87 {
				t.Fatalf("CONNACK %+v (%v), want 0x87 not authorized", c.ack, err)
			}
		})
		t.Run("v3/"+tc.name, func(t *testing.T) {
			if code := e.rawConnack(t, 4, "h", tc.token, ""); code != 5 {
				t.Fatalf("CONNACK %d, want return code 5 (not authorized)", code)
			}
		})
	}
}

func TestMQTTRESTSends(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "alice", wps.RoleJoinLeaveGroupAny)
	c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "dev1", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	c.sub(t, "room", 1)
	eventually(t, "subscribed", func() bool { return len(groupsOf(e, "dev1")) == 1 })
	for _, tc := range []struct {
		name, path, topic string
	}{
		{"group", "/api/hubs/h/groups/room/:send?api-version=2024-12-01", "room"},
		{"all", "/api/hubs/h/:send?api-version=2024-12-01", mqttServerMessages},
		{"user", "/api/hubs/h/users/alice/:send?api-version=2024-12-01", mqttServerMessages},
		{"connection", "/api/hubs/h/connections/dev1/:send?api-version=2024-12-01", mqttServerMessages},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"n":"` + tc.name + `"}`)
			if st, _, b := e.rest("POST", tc.path, "application/json", body); st != 202 {
				t.Fatalf("REST %d %s", st, b)
			}
			m := c.next(t)
			if m.Topic != tc.topic || !bytes.Equal(m.Payload, body) || m.QoS != 1 {
				t.Fatalf("got %q QoS %d %q, want %q QoS 1 %q", m.Topic, m.QoS, m.Payload, tc.topic, body)
			}
			if m.Properties == nil || m.Properties.ContentType != "application/json" {
				t.Errorf("content type %+v, want application/json", m.Properties)
			}
		})
	}
	t.Run("remove from group", func(t *testing.T) {
		if st, _, b := e.rest("DELETE", "/api/hubs/h/groups/room/connections/dev1?api-version=2024-12-01", "", nil); st != 204 {
			t.Fatalf("REST %d %s", st, b)
		}
		e.rest("POST", "/api/hubs/h/groups/room/:send?api-version=2024-12-01", "text/plain", []byte("x"))
		c.none(t, 200*time.Millisecond)
	})
	t.Run("add to group", func(t *testing.T) {
		if st, _, b := e.rest("PUT", "/api/hubs/h/groups/other/connections/dev1?api-version=2024-12-01", "", nil); st != 200 {
			t.Fatalf("REST %d %s", st, b)
		}
		e.rest("POST", "/api/hubs/h/groups/other/:send?api-version=2024-12-01", "text/plain", []byte("hi"))
		if m := c.next(t); m.Topic != "other" || string(m.Payload) != "hi" || m.Properties.ContentType != "text/plain" {
			t.Fatalf("got %q %q %+v", m.Topic, m.Payload, m.Properties)
		}
	})
	t.Run("connection exists", func(t *testing.T) {
		if st, _, _ := e.rest("HEAD", "/api/hubs/h/connections/dev1?api-version=2024-12-01", "", nil); st != 200 {
			t.Fatalf("exists %d", st)
		}
	})
}

func TestMQTTCrossProtocol(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "dev", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	m5, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "m5", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	m5.sub(t, "x", 1)
	m3 := e.rawConnected(t, 4, "h", tok, "m3")
	ws := e.connect("h", "web", SubprotocolJSON, wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	ws.send(map[string]any{"type": "joinGroup", "group": "x", "ackId": 1})
	ws.read() // ack
	eventually(t, "two members", func() bool { return len(e.s.Snapshot().Hubs[0].Groups["x"]) == 2 })

	t.Run("MQTT 5 JSON to WebSocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m5.Publish(ctx, &paho.Publish{Topic: "x", QoS: 1, Payload: []byte(`{"t":21.5}`), Properties: &paho.PublishProperties{ContentType: "application/json"}})
		msg := ws.read()
		if msg["dataType"] != "json" || msg["group"] != "x" || msg["fromUserId"] != "dev" {
			t.Fatalf("got %v, want json from group x", msg)
		}
		if d, _ := msg["data"].(map[string]any); d["t"] != 21.5 {
			t.Fatalf("data %v", msg["data"])
		}
		m5.next(t) // its own echo
	})
	t.Run("MQTT 3.1.1 to WebSocket is binary", func(t *testing.T) {
		m3.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "x", Payload: []byte("plain"), ProtocolVersion: 4})
		if ack, err := m3.next(); err != nil || ack.FixedHeader.Type != packets.Puback {
			t.Fatalf("PUBACK %+v %v", ack, err)
		}
		msg := ws.read()
		if msg["dataType"] != "binary" || msg["data"] != base64.StdEncoding.EncodeToString([]byte("plain")) {
			t.Fatalf("got %v, want binary base64 of the payload", msg)
		}
		if m := m5.next(t); string(m.Payload) != "plain" {
			t.Fatalf("MQTT 5 got %q", m.Payload)
		}
	})
	t.Run("WebSocket to MQTT", func(t *testing.T) {
		ws.send(map[string]any{"type": "sendToGroup", "group": "x", "dataType": "text", "data": "from web", "noEcho": true})
		m := m5.next(t)
		if m.Topic != "x" || string(m.Payload) != "from web" || m.QoS != 1 || m.Properties.ContentType != "text/plain" {
			t.Fatalf("got %q QoS %d %q %+v", m.Topic, m.QoS, m.Payload, m.Properties)
		}
	})
}

func TestMQTTPermissions(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", "webpubsub.joinLeaveGroup.allowed", "webpubsub.sendToGroup.allowed")
	c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "p1", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("subscribe", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "allowed", QoS: 1}, {Topic: "denied", QoS: 1}}})
		if sa == nil || !bytes.Equal(sa.Reasons, []byte{1, 0x87}) {
			t.Fatalf("SUBACK %+v (%v), want 1, 0x87", sa, err)
		}
		// The CONNACK said no wildcards and no shared subscriptions, and
		// paho believes it.
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "a/+", QoS: 1}}}); err == nil {
			t.Error("paho sent a wildcard subscription: the CONNACK did not advertise them unavailable")
		}
	})
	t.Run("v3 subscribe refusals", func(t *testing.T) {
		r := e.rawConnected(t, 4, "h", tok, "s3")
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 9, ProtocolVersion: 4,
			Filters: packets.Subscriptions{{Filter: "allowed", Qos: 2}, {Filter: "denied", Qos: 1}, {Filter: "a/+", Qos: 1}, {Filter: "#"}, {Filter: "$share/g/allowed", Qos: 1}}})
		sa, err := r.next()
		if err != nil || sa.FixedHeader.Type != packets.Suback || !bytes.Equal(sa.ReasonCodes, []byte{2, 0x80, 0x80, 0x80, 0x80}) {
			t.Fatalf("SUBACK %+v %v, want 2, 0x80 ×4", sa, err)
		}
	})
	t.Run("publish QoS 1 refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pr, err := c.Publish(ctx, &paho.Publish{Topic: "denied", QoS: 1, Payload: []byte("x")})
		if pr == nil || pr.ReasonCode != 0x87 {
			t.Fatalf("PUBACK %+v %v, want 0x87", pr, err)
		}
	})
	t.Run("publish QoS 0 refused closes", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Publish(ctx, &paho.Publish{Topic: "denied", QoS: 0, Payload: []byte("x")})
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("connection kept after an unauthorised QoS 0 publish")
		}
	})
	t.Run("v3 QoS 1 refused is acknowledged and dropped", func(t *testing.T) {
		watcher, err := e.pahoV5(t, "h", e.mqttToken("h", "w", wps.RoleJoinLeaveGroupAny), pahoV5Opts{clientID: "w5", clean: true})
		if err != nil {
			t.Fatal(err)
		}
		watcher.sub(t, "denied", 1)
		r := e.rawConnected(t, 4, "h", tok, "p3")
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 3, TopicName: "denied", Payload: []byte("x"), ProtocolVersion: 4})
		if ack, err := r.next(); err != nil || ack.FixedHeader.Type != packets.Puback || ack.PacketID != 3 {
			t.Fatalf("PUBACK %+v %v", ack, err)
		}
		watcher.none(t, 200*time.Millisecond)
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}, ProtocolVersion: 4})
		if pk, err := r.next(); err != nil || pk.FixedHeader.Type != packets.Pingresp {
			t.Fatalf("after the refusal: %+v %v, want the connection kept", pk, err)
		}
	})
}

func TestMQTTPersistentSessionRedelivery(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny)
	c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "keep1", clean: true, sessionExpiry: 30, manualAck: true})
	if err != nil {
		t.Fatal(err)
	}
	c.sub(t, "q", 1)
	e.rest("POST", "/api/hubs/h/groups/q/:send?api-version=2024-12-01", "text/plain", []byte("one"))
	if m := c.next(t); string(m.Payload) != "one" {
		t.Fatalf("got %q", m.Payload)
	} // not acknowledged: in flight
	if !e.s.DropSocket("keep1") {
		t.Fatal("no socket to drop")
	}
	<-c.Done()
	e.rest("POST", "/api/hubs/h/groups/q/:send?api-version=2024-12-01", "text/plain", []byte("two"))
	c2, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "keep1", clean: false, sessionExpiry: 30})
	if err != nil {
		t.Fatal(err)
	}
	if !c2.ack.SessionPresent {
		t.Fatal("CONNACK session present 0, want the session kept")
	}
	m := c2.next(t)
	if string(m.Payload) != "one" || !m.Duplicate() {
		t.Fatalf("got %q dup %v, want the in-flight message again with DUP", m.Payload, m.Duplicate())
	}
	if m := c2.next(t); string(m.Payload) != "two" {
		t.Fatalf("got %q, want the message sent while offline", m.Payload)
	}
	// A clean start ends the session.
	c2.Disconnect(&paho.Disconnect{})
	c3, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "keep1", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	if c3.ack.SessionPresent {
		t.Fatal("clean start: session present")
	}
	if g := groupsOf(e, "keep1"); len(g) != 0 {
		t.Fatalf("groups %v after a clean start", g)
	}
}

// TestMQTTWithMintedURL: pkg/wps's MQTT client URLs (signed locally and by
// :generateToken?clientType=MQTT) connect a paho client.
func TestMQTTWithMintedURL(t *testing.T) {
	e := newEnv(t, Config{})
	c, err := wps.NewClientFromConnectionString(e.s.ConnectionString(e.base), "h", nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := c.ClientAccessURL(context.Background(), &wps.ClientAccessOptions{UserID: "dev", Protocol: wps.ProtocolMQTT,
		Roles: []string{wps.RoleJoinLeaveGroupAny}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ca.BaseURL, "/clients/mqtt/hubs/h") {
		t.Fatalf("base URL %s", ca.BaseURL)
	}
	p, err := e.pahoV5(t, "h", ca.Token, pahoV5Opts{clientID: "minted", clean: true})
	if err != nil {
		t.Fatal(err)
	}
	if sa := p.sub(t, "t", 1); sa.Reasons[0] != 1 {
		t.Fatalf("SUBACK %x: the token's role was not applied", sa.Reasons)
	}
	st, _, body := e.rest("POST", "/api/hubs/h/:generateToken?api-version=2024-12-01&clientType=MQTT&userId=u2", "", nil)
	var gt struct{ Token string }
	if st != 200 || json.Unmarshal(body, &gt) != nil {
		t.Fatalf("generateToken %d %s", st, body)
	}
	if _, err := e.pahoV5(t, "h", gt.Token, pahoV5Opts{clientID: "generated", clean: true}); err != nil {
		t.Fatalf("connect with a :generateToken MQTT token: %v", err)
	}
}

// TestMQTTTrace: the live trace shows MQTT packets like frames, and never
// the password or the token.
func TestMQTTTrace(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "tr1", clean: true, username: "dev", password: []byte("hunter2")})
	if err != nil {
		t.Fatal(err)
	}
	c.sub(t, "t", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Publish(ctx, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte("secret-payload")})
	c.next(t)
	want := []string{"CONNECT version=5.0 clientId=\"tr1\"", "password=[redacted]", "CONNACK sessionPresent=false code=0x0",
		"SUBSCRIBE id=", "SUBACK", "PUBLISH topic=\"t\" qos=1", "PUBACK id="}
	defer func() {
		if t.Failed() {
			for _, ev := range e.traces {
				t.Log(ev.Kind, ev.Summary)
			}
		}
	}()
	eventually(t, "MQTT packets traced", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		var all strings.Builder
		for _, ev := range e.traces {
			all.WriteString(ev.Kind + " " + ev.Summary + "\n")
		}
		for _, w := range want {
			if !strings.Contains(all.String(), w) {
				return false
			}
		}
		return true
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.traces {
		if strings.Contains(ev.Summary, "hunter2") || strings.Contains(ev.Summary, tok) || strings.Contains(ev.Summary, "secret-payload") {
			t.Fatalf("trace leaks: %+v", ev)
		}
	}
}
