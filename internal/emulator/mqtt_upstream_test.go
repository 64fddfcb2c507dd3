package emulator

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// mqttRecorder is a pkg/cloudevents handler that records MQTT events.
type mqttRecorder struct {
	mu           sync.Mutex
	connects     []*cloudevents.ConnectRequest
	connected    []*cloudevents.ConnectedRequest
	disconnected []*cloudevents.DisconnectedRequest
	events       []*cloudevents.UserEventRequest
	// sources are each request's ce-source and ce-physicalConnectionId,
	// as sent.
	sources [][2]string
}

func (r *mqttRecorder) snapshot() ([]*cloudevents.ConnectRequest, []*cloudevents.ConnectedRequest, []*cloudevents.DisconnectedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*cloudevents.ConnectRequest(nil), r.connects...), append([]*cloudevents.ConnectedRequest(nil), r.connected...),
		append([]*cloudevents.DisconnectedRequest(nil), r.disconnected...)
}

func newMQTTRecorder(t *testing.T) (*mqttRecorder, *httptest.Server) {
	rec := &mqttRecorder{}
	h := &cloudevents.Handler{
		Keys: cloudevents.NewKeys(DefaultAccessKey),
		Connect: func(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
			rec.mu.Lock()
			rec.connects = append(rec.connects, req)
			rec.mu.Unlock()
			if c := req.Query["mqttcode"]; c != nil {
				n, _ := strconv.Atoi(c[0])
				return nil, cloudevents.MQTTErrorf(n, "refused with %d", n)
			}
			if s := req.Query["status"]; s != nil {
				n, _ := strconv.Atoi(s[0])
				return nil, cloudevents.Errorf(n, "refused with status %d", n)
			}
			if req.MQTT != nil && req.MQTT.Username == "device1" && string(req.MQTT.Password) == "s3cret\x00" {
				return &cloudevents.ConnectResponse{UserID: "device1", Groups: []string{"telemetry"},
					Roles: []string{"webpubsub.sendToGroup.telemetry"},
					MQTT:  &cloudevents.MQTTConnectResponse{UserProperties: []cloudevents.MQTTUserProperty{{Name: "welcome", Value: "yes"}}}}, nil
			}
			return nil, nil
		},
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			rec.mu.Lock()
			rec.events = append(rec.events, req)
			rec.mu.Unlock()
			return &cloudevents.UserEventResponse{Data: append([]byte("echo:"), req.Data...), DataType: cloudevents.DataText,
				MQTTUserProperties: []cloudevents.MQTTUserProperty{{Name: "Reply", Value: "1"}}}, nil
		},
		Connected: func(ctx context.Context, req *cloudevents.ConnectedRequest) error {
			rec.mu.Lock()
			rec.connected = append(rec.connected, req)
			rec.mu.Unlock()
			return nil
		},
		Disconnected: func(ctx context.Context, req *cloudevents.DisconnectedRequest) error {
			rec.mu.Lock()
			rec.disconnected = append(rec.disconnected, req)
			rec.mu.Unlock()
			return nil
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost { // not the abuse-protection OPTIONS
			rec.mu.Lock()
			rec.sources = append(rec.sources, [2]string{r.Header.Get("ce-source"), r.Header.Get("ce-physicalConnectionId")})
			rec.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func mqttHubWith(url string) map[string]HubSettings {
	return map[string]HubSettings{"h": {AllowAnonymous: true, EventHandlers: []EventHandler{{
		URLTemplate: url + "/{event}", UserEvents: "*", SystemEvents: []string{"connect", "connected", "disconnected"}}}}}
}

func TestMQTTUpstreamEvents(t *testing.T) {
	rec, srv := newMQTTRecorder(t)
	e := newEnv(t, Config{Hubs: mqttHubWith(srv.URL)})
	// Anonymous (the hub allows it): the handler authenticates by
	// username and password, gives the user, a group and a role.
	c, err := e.pahoV5(t, "h", "", pahoV5Opts{clientID: "dev1", clean: true, sessionExpiry: 10, username: "device1", password: []byte("s3cret\x00")})
	if err != nil {
		t.Fatal(err)
	}
	if c.ack.Properties == nil || c.ack.Properties.User.Get("welcome") != "yes" {
		t.Errorf("CONNACK properties %+v, want the handler's user property", c.ack.Properties)
	}
	connects, _, _ := rec.snapshot()
	if len(connects) != 1 {
		t.Fatalf("%d connect events", len(connects))
	}
	req := connects[0]
	if req.ConnectionID != "dev1" || req.PhysicalConnectionID == "" || !req.IsMQTT() || req.SessionID != "" {
		t.Errorf("connect context %+v: want client id, a physical connection id, mqtt, no session id", req.ConnectionContext)
	}
	if m := req.MQTT; m == nil || m.ProtocolVersion != 5 || m.Username != "device1" || !bytes.Equal(m.Password, []byte("s3cret\x00")) {
		t.Errorf("mqtt properties %+v", req.MQTT)
	}
	if len(req.Subprotocols) != 1 || req.Subprotocols[0] != "mqtt" {
		t.Errorf("subprotocols %v", req.Subprotocols)
	}
	if g := groupsOf(e, "dev1"); len(g) != 1 || g[0] != "telemetry" {
		t.Errorf("groups %v, want the handler's telemetry", g)
	}

	// The role lets it publish to telemetry only.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if pr, err := c.Publish(ctx, &paho.Publish{Topic: "telemetry", QoS: 1, Payload: []byte("21.5")}); err != nil || pr.ReasonCode >= 0x80 {
		t.Fatalf("PUBACK %+v %v", pr, err)
	}
	c.next(t) // subscribed to it by the connect response

	// A user event, answered on .../succeeded.
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "$webpubsub/server/events/ping", QoS: 1, Payload: []byte("hi"),
		Properties: &paho.PublishProperties{ContentType: "text/plain", CorrelationData: []byte("c1"), User: paho.UserProperties{{Key: "a", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	m := c.next(t)
	if m.Topic != "$webpubsub/server/events/ping/succeeded" || string(m.Payload) != "echo:hi" ||
		m.Properties.User.Get("azure-status-code") != "200" || !bytes.Equal(m.Properties.CorrelationData, []byte("c1")) {
		t.Fatalf("reply %q %q %+v", m.Topic, m.Payload, m.Properties)
	}
	rec.mu.Lock()
	ev := rec.events[0]
	rec.mu.Unlock()
	if ev.EventName != "ping" || string(ev.Data) != "hi" || ev.ContentType != "text/plain" || len(ev.MQTTUserProperties) != 1 {
		t.Errorf("user event %+v", ev)
	}

	// connected once, with the session id; a drop does not end the session.
	eventually(t, "connected", func() bool { _, cd, _ := rec.snapshot(); return len(cd) == 1 })
	_, cd, _ := rec.snapshot()
	if cd[0].SessionID == "" || cd[0].PhysicalConnectionID != req.PhysicalConnectionID {
		t.Errorf("connected context %+v", cd[0].ConnectionContext)
	}
	e.s.DropSocket("dev1")
	<-c.Done()
	c2, err := e.pahoV5(t, "h", "", pahoV5Opts{clientID: "dev1", clean: false, sessionExpiry: 10, username: "device1", password: []byte("s3cret\x00")})
	if err != nil || !c2.ack.SessionPresent {
		t.Fatalf("resume: %+v %v", c2.ack, err)
	}
	connects, cd, dis := rec.snapshot()
	if len(connects) != 2 || len(cd) != 1 || len(dis) != 0 {
		t.Fatalf("%d connect, %d connected, %d disconnected: want a connect for every CONNECT, events only for the session", len(connects), len(cd), len(dis))
	}
	if connects[1].PhysicalConnectionID == req.PhysicalConnectionID {
		t.Error("the new network connection has the old physical connection id")
	}
	// DISCONNECT with session expiry 0 ends the session.
	zero := uint32(0)
	c2.Disconnect(&paho.Disconnect{ReasonCode: 0, Properties: &paho.DisconnectProperties{SessionExpiryInterval: &zero, User: paho.UserProperties{{Key: "bye", Value: "1"}}}})
	eventually(t, "disconnected", func() bool { _, _, d := rec.snapshot(); return len(d) == 1 })
	_, _, dis = rec.snapshot()
	d := dis[0]
	if d.MQTT == nil || !d.MQTT.InitiatedByClient || d.MQTT.DisconnectPacket == nil || d.MQTT.DisconnectPacket.Code != 0 ||
		len(d.MQTT.DisconnectPacket.UserProperties) != 1 || d.SessionID != cd[0].SessionID {
		t.Errorf("disconnected %+v mqtt %+v", d.ConnectionContext, d.MQTT)
	}

	// Every event's ce-source ends with its network connection's id
	// (reference-mqtt-cloud-events): connect, connected, the user event,
	// the second connect, disconnected and any other.
	rec.mu.Lock()
	sources := rec.sources
	rec.mu.Unlock()
	if len(sources) < 5 {
		t.Fatalf("%d events recorded, want at least 5", len(sources))
	}
	for i, s := range sources {
		if s[1] == "" || s[0] != "/hubs/h/client/dev1/"+s[1] {
			t.Errorf("event %d: ce-source %q with ce-physicalConnectionId %q", i, s[0], s[1])
		}
	}
}

func TestMQTTHandlerRefusals(t *testing.T) {
	_, srv := newMQTTRecorder(t)
	e := newEnv(t, Config{Hubs: mqttHubWith(srv.URL)})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny)
	for _, tc := range []struct {
		query string
		v5    byte
		v3    byte
	}{
		{"mqttcode=138", 0x8A, 5}, // banned; 3.1.1: not authorised
		{"mqttcode=134", 0x86, 4},
		{"mqttcode=4", 0x80, 4}, // a 3.1.1 code for 5.0: unspecified
		{"mqttcode=2", 0x80, 2},
		{"mqttcode=999", 0x80, 3}, // invalid
		{"status=401", 0x87, 5},
		{"status=400", 0x86, 4},
		{"status=500", 0x80, 3},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q := "&" + tc.query
			c, err := e.pahoV5(t, "h", tok, pahoV5Opts{clientID: "r5", clean: true, query: q})
			if err == nil || c.ack == nil || c.ack.ReasonCode != tc.v5 {
				t.Errorf("v5 CONNACK %+v (%v), want %#x", c.ack, err, tc.v5)
			}
			if code := e.rawConnack(t, 4, "h", tok, q); code != tc.v3 {
				t.Errorf("v3 CONNACK %d, want %d", code, tc.v3)
			}
		})
	}
}
