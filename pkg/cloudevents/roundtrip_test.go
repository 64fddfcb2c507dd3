package cloudevents

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const otherKey = "secondary-key-0123456789"

// recorder keeps what each callback received.
type recorder struct {
	mu    sync.Mutex
	calls []any
}

func (r *recorder) add(v any) {
	r.mu.Lock()
	r.calls = append(r.calls, v)
	r.mu.Unlock()
}

func (r *recorder) take() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRoundTrip: our handler reads exactly what our service side builds, and
// our service side reads exactly what our handler answers, for every event.
func TestRoundTrip(t *testing.T) {
	rec := &recorder{}
	h := &Handler{
		Hub:    "Chat",
		Keys:   NewKeys(testKey, otherKey),
		Logger: quietLogger(),
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			rec.add(req)
			if req.MQTT != nil && req.MQTT.Username == "bad" {
				return nil, MQTTErrorf(0x86, "bad credentials")
			}
			if req.MQTT != nil && req.MQTT.Username == "deny" {
				return nil, Errorf(401, "denied")
			}
			r := &ConnectResponse{UserID: "u-" + req.Query["name"][0], Groups: []string{"a", "b"}, Roles: []string{"webpubsub.sendToGroup.a"}, Subprotocol: req.Subprotocols[1]}
			if req.MQTT != nil {
				r.MQTT = &MQTTConnectResponse{UserProperties: []MQTTUserProperty{{"k", "v"}}}
			}
			r.SetState("n", 1)
			return r, nil
		},
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			rec.add(req)
			var n int
			req.State().Get("n", &n)
			r := &UserEventResponse{Data: append([]byte("re:"), req.Data...), DataType: req.DataType}
			switch string(req.Data) {
			case "clear":
				r.ClearStates()
			case "delete":
				r.DeleteState("n")
			case "none":
				return nil, nil
			default:
				r.SetState("n", n+1)
			}
			return r, nil
		},
		Connected:    func(ctx context.Context, req *ConnectedRequest) error { rec.add(req); return nil },
		Disconnected: func(ctx context.Context, req *DisconnectedRequest) error { rec.add(req); return nil },
		GroupJoined:  func(ctx context.Context, req *GroupEventRequest) error { rec.add(req); return nil },
		GroupLeft: func(ctx context.Context, req *GroupEventRequest) error {
			rec.add(req)
			return Errorf(403, "no leaving")
		},
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := context.Background()
	cc := ConnectionContext{Hub: "chat", ConnectionID: "conn/1 é", UserID: "alice", Origin: "localhost"}

	// connect, signed with the secondary key only (rotation).
	connect := &ConnectRequest{
		ConnectionContext:  cc,
		Claims:             map[string][]string{"sub": {"alice"}, "role": {"r1", "r2"}},
		Query:              map[string][]string{"name": {"bob"}},
		Headers:            map[string][]string{"Sec-WebSocket-Protocol": {"p1, p2"}},
		Subprotocols:       []string{"p1", "p2"},
		ClientCertificates: []ClientCertificate{{Thumbprint: "ab12", Content: "PEM"}},
	}
	ans, err := send(ctx, srv.URL, connect, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := ans.Connect()
	if err != nil {
		t.Fatal(err)
	}
	want := &ConnectResponse{UserID: "u-bob", Groups: []string{"a", "b"}, Roles: []string{"webpubsub.sendToGroup.a"}, Subprotocol: "p2"}
	if !reflect.DeepEqual(cr, want) {
		t.Errorf("connect answer %+v, want %+v", cr, want)
	}
	state, ok := ans.State()
	if !ok {
		t.Fatal("connect set no state")
	}
	calls := rec.take()
	got := calls[0].(*ConnectRequest)
	if got.ConnectionID != cc.ConnectionID || got.UserID != "alice" || got.Hub != "chat" || got.EventName != "connect" || got.Type != TypeConnect || got.Origin != "localhost" {
		t.Errorf("connect context %+v", got.ConnectionContext)
	}
	if !reflect.DeepEqual(got.Claims, connect.Claims) || !reflect.DeepEqual(got.Query, connect.Query) || !reflect.DeepEqual(got.Headers, connect.Headers) ||
		!reflect.DeepEqual(got.Subprotocols, connect.Subprotocols) || !reflect.DeepEqual(got.ClientCertificates, connect.ClientCertificates) {
		t.Errorf("connect body %+v", got)
	}

	// connected carries the state set on connect.
	cc.RawState = state
	cc.Subprotocol = "p2"
	if ans, err = send(ctx, srv.URL, &ConnectedRequest{ConnectionContext: cc}, testKey, otherKey); err != nil || ans.Status != 200 || len(ans.Body) != 0 {
		t.Fatalf("connected: %v %+v", err, ans)
	}
	c := rec.take()[0].(*ConnectedRequest)
	var n int
	if ok, err := c.State().Get("n", &n); !ok || err != nil || n != 1 || c.Subprotocol != "p2" || c.EventName != "connected" {
		t.Errorf("connected: state n=%d ok=%v err=%v %+v", n, ok, err, c.ConnectionContext)
	}

	// user events in each data type; the state counts up, then is deleted and cleared.
	for i, tc := range []struct {
		data   string
		dt     DataType
		wantN  any // n in the returned state; nil: absent
		absent bool
	}{
		{"hello", DataText, 2.0, false},
		{`{"x":1}`, DataJSON, 3.0, false},
		{"\x00\xff", DataBinary, 4.0, false},
		{"pb", DataProtobuf, 5.0, false},
		{"delete", DataText, nil, false},
		{"clear", DataText, nil, false},
		{"none", DataText, nil, true},
	} {
		ue := &UserEventRequest{ConnectionContext: cc, Data: []byte(tc.data), DataType: tc.dt}
		ue.EventName = "chat.msg"
		ans, err := send(ctx, srv.URL, ue, testKey)
		if err != nil {
			t.Fatal(err)
		}
		got := rec.take()[0].(*UserEventRequest)
		if string(got.Data) != tc.data || got.DataType != tc.dt || got.EventName != "chat.msg" || got.Type != TypeUserPrefix+"chat.msg" {
			t.Errorf("%d: handler read %q %q %q", i, got.Data, got.DataType, got.EventName)
		}
		r, err := ans.UserEvent()
		if err != nil {
			t.Fatal(err)
		}
		if tc.absent {
			if r != nil || ans.Status != 204 {
				t.Errorf("%d: want 204, got %d %+v", i, ans.Status, r)
			}
			if _, ok := ans.State(); ok {
				t.Errorf("%d: nil response set state", i)
			}
			continue
		}
		if string(r.Data) != "re:"+tc.data || r.DataType != tc.dt {
			t.Errorf("%d: answer %q %q", i, r.Data, r.DataType)
		}
		raw, ok := ans.State()
		if !ok {
			t.Fatalf("%d: no state", i)
		}
		st, err := DecodeState(raw)
		if err != nil {
			t.Fatal(err)
		}
		if tc.wantN == nil {
			if st.Len() != 0 {
				t.Errorf("%d: state %v, want empty", i, st.Keys())
			}
			if tc.data == "clear" && raw != "e30=" {
				t.Errorf("clear sent %q, want base64 of {}", raw)
			}
		} else {
			var n float64
			st.Get("n", &n)
			if n != tc.wantN {
				t.Errorf("%d: n=%v want %v", i, n, tc.wantN)
			}
		}
		cc.RawState = ans.NextState(cc.RawState)
	}

	// disconnected and group events.
	if ans, err = send(ctx, srv.URL, &DisconnectedRequest{ConnectionContext: cc, Reason: "bye"}, testKey); err != nil || ans.Status != 200 {
		t.Fatalf("disconnected: %v %+v", err, ans)
	}
	if d := rec.take()[0].(*DisconnectedRequest); d.Reason != "bye" || d.ConnectionID != cc.ConnectionID {
		t.Errorf("disconnected %+v", d)
	}
	if ans, err = send(ctx, srv.URL, &GroupEventRequest{ConnectionContext: cc, Group: "g 1"}, testKey); err != nil || ans.Status != 200 {
		t.Fatalf("joined: %v %+v", err, ans)
	}
	if g := rec.take()[0].(*GroupEventRequest); g.Group != "g 1" || g.EventName != "joined" || g.Type != TypeGroupJoined {
		t.Errorf("joined %+v", g)
	}
	left := &GroupEventRequest{ConnectionContext: cc, Group: "g2"}
	left.EventName = "left"
	if ans, err = send(ctx, srv.URL, left, testKey); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := ans.Err(); !errors.As(err, &e) || e.Status != 403 || e.Message != "no leaving" {
		t.Errorf("left answer: %v", err)
	}
	if g := rec.take()[0].(*GroupEventRequest); g.Group != "g2" || g.EventName != "left" {
		t.Errorf("left %+v", g)
	}
}

// TestMQTT covers MQTT fields and the MQTT error JSON.
func TestMQTT(t *testing.T) {
	rec := &recorder{}
	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey), Logger: quietLogger(),
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			rec.add(req)
			switch req.MQTT.Username {
			case "bad":
				return nil, MQTTErrorf(0x86, "bad credentials")
			case "deny":
				return nil, Errorf(401, "denied")
			case "boom":
				return nil, errors.New("secret detail")
			}
			return &ConnectResponse{MQTT: &MQTTConnectResponse{UserProperties: []MQTTUserProperty{{"k", "v"}}}}, nil
		},
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			rec.add(req)
			return &UserEventResponse{Data: req.Data, DataType: req.DataType, MQTTUserProperties: []MQTTUserProperty{{"Reply", "yes"}}}, nil
		},
		Disconnected: func(ctx context.Context, req *DisconnectedRequest) error { rec.add(req); return nil },
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := context.Background()
	cc := ConnectionContext{Hub: "chat", ConnectionID: "client1", Subprotocol: "mqtt", PhysicalConnectionID: "phys1"}
	clean := true
	for _, tc := range []struct {
		name    string
		user    string
		version int
		status  int
		body    string
	}{
		{"accepted v5", "ok", 5, 200, `{"mqtt":{"userProperties":[{"name":"k","value":"v"}]}}`},
		{"MQTTErrorf v5", "bad", 5, 401, `{"mqtt":{"code":134,"reason":"bad credentials"}}`},
		{"Errorf v5", "deny", 5, 401, `{"mqtt":{"code":135,"reason":"denied"}}`},
		{"Errorf v3.1.1", "deny", 4, 401, `{"mqtt":{"code":5,"reason":"denied"}}`},
		{"plain error hidden", "boom", 4, 500, `{"mqtt":{"code":3,"reason":"internal error"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &ConnectRequest{ConnectionContext: cc, MQTT: &MQTTConnectProperties{ProtocolVersion: tc.version, Username: tc.user, Password: []byte{1, 2}, CleanStart: &clean,
				UserProperties: []MQTTUserProperty{{"a", "b"}}}}
			ans, err := send(ctx, srv.URL, req, testKey)
			if err != nil {
				t.Fatal(err)
			}
			got := rec.take()[0].(*ConnectRequest)
			if !got.IsMQTT() || !reflect.DeepEqual(got.MQTT, req.MQTT) || got.PhysicalConnectionID != "phys1" {
				t.Errorf("handler read %+v %+v", got.ConnectionContext, got.MQTT)
			}
			if ans.Status != tc.status || string(ans.Body) != tc.body {
				t.Errorf("%d %s, want %d %s", ans.Status, ans.Body, tc.status, tc.body)
			}
			if tc.status >= 400 {
				var e *Error
				if !errors.As(ans.Err(), &e) || e.MQTT == nil || ans.Header.Get("Content-Type") != "application/json" {
					t.Errorf("service side read %v", ans.Err())
				}
				if strings.Contains(string(ans.Body), "secret") {
					t.Errorf("error text leaked: %s", ans.Body)
				}
			} else if r, err := ans.Connect(); err != nil || r.MQTT == nil || r.MQTT.UserProperties[0] != (MQTTUserProperty{"k", "v"}) {
				t.Errorf("connect answer %+v %v", r, err)
			}
		})
	}

	ue := &UserEventRequest{ConnectionContext: cc, Data: []byte("t"), ContentType: "text/plain", MQTTUserProperties: []MQTTUserProperty{{"Color", "red"}}}
	ue.SessionID = "s1"
	ans, err := send(ctx, srv.URL, ue, testKey)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.take()[0].(*UserEventRequest)
	if got.SessionID != "s1" || !reflect.DeepEqual(got.MQTTUserProperties, []MQTTUserProperty{{"Color", "red"}}) || got.DataType != DataText {
		t.Errorf("mqtt user event read %+v", got)
	}
	r, _ := ans.UserEvent()
	if r == nil || !reflect.DeepEqual(r.MQTTUserProperties, []MQTTUserProperty{{"Reply", "yes"}}) {
		t.Errorf("mqtt answer %+v", r)
	}

	disc := &DisconnectedRequest{ConnectionContext: cc, MQTT: &MQTTDisconnectedProperties{InitiatedByClient: true, DisconnectPacket: &MQTTDisconnectPacket{Code: 4}}}
	if _, err := send(ctx, srv.URL, disc, testKey); err != nil {
		t.Fatal(err)
	}
	d := rec.take()[0].(*DisconnectedRequest)
	if !reflect.DeepEqual(d.MQTT, disc.MQTT) || d.Reason != "" {
		t.Errorf("disconnected %+v", d.MQTT)
	}
	b, _ := json.Marshal(d.MQTT)
	if string(b) != `{"initiatedByClient":true,"disconnectPacket":{"code":4}}` {
		t.Errorf("mqtt disconnected JSON %s", b)
	}
}

func TestMQTTCodeStatus(t *testing.T) {
	for code, want := range map[int]int{1: 400, 2: 400, 3: 503, 4: 401, 5: 401, 0x80: 500, 0x81: 400, 0x85: 400, 0x86: 401, 0x87: 401, 0x8A: 403, 0x97: 429, 0x9F: 429, 0x88: 500} {
		if got := MQTTCodeStatus(code); got != want {
			t.Errorf("code %#x: %d, want %d", code, got, want)
		}
	}
}

// TestSignVector is the Functions extension's test vector.
func TestSignVector(t *testing.T) {
	got := Sign("0f9c97a2f0bf4706afe87a14e0797b11", "7aab239577fd4f24bc919802fb629f5f")
	if got != "sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561" {
		t.Fatalf("Sign = %s", got)
	}
	if got := Sign("conn1", testKey); got != "sha256=0f2da61d6ed29c562432e90cd8c8ffab5ddda8cdf4b4489507d76680a9d9fb63" {
		t.Fatalf("Sign(conn1) = %s (recorded in the Express vectors)", got)
	}
	if got := Sign("c", "", "k"); strings.Count(got, "sha256=") != 1 {
		t.Fatalf("empty key signed: %s", got)
	}
}
