package upstream_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/nodetest"
	. "github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// startExpressPeer runs test/cloudevents-express-peer.js (Microsoft's
// @azure/web-pubsub-express 1.1.0) and returns its handler URL and base URL.
func startExpressPeer(t *testing.T) (handlerURL, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := nodetest.Command(ctx, t, "cloudevents-express-peer.js")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
		cancel()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("peer did not start: %v", err)
	}
	var hello struct{ Port int }
	if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.Port == 0 {
		t.Fatalf("peer said %q", line)
	}
	base = fmt.Sprintf("http://127.0.0.1:%d", hello.Port)
	return base + "/eventhandler/", base
}

type peerContext struct {
	Hub, ConnectionID, UserID, EventName, Subprotocol, Origin, ClientProtocol string
	States                                                                    map[string]any
	MQTT                                                                      *struct {
		PhysicalConnectionID string `json:"physicalConnectionId"`
		SessionID            string `json:"sessionId"`
	}
}

// TestExpressPeer: Microsoft's Express handler reads what our service side
// builds (signature, ids, body fields, data of each type, state we encoded),
// and our service side reads what it answers (connect fields, replies of each
// type, errors, MQTT errors, the state it encoded).
func TestExpressPeer(t *testing.T) {
	url, base := startExpressPeer(t)
	ctx := context.Background()

	if err := (&upstream.Caller{Origin: "svc.example"}).Validate(ctx, url+"validate"); err != nil {
		t.Fatalf("abuse protection with Express: %v", err)
	}

	st, err := NewState(map[string]any{"from": "go", "n": 7})
	if err != nil {
		t.Fatal(err)
	}
	cc := ConnectionContext{Hub: "chat", ConnectionID: "conn-1.x_Y", UserID: "alice", Origin: "svc.example", RawState: st.Encode()}
	connect := &ConnectRequest{
		ConnectionContext:  cc,
		Claims:             map[string][]string{"sub": {"alice"}, "role": {"a", "b"}},
		Query:              map[string][]string{"group": {"g1", "g2"}},
		Headers:            map[string][]string{"Host": {"x"}},
		Subprotocols:       []string{"json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1"},
		ClientCertificates: []ClientCertificate{{Thumbprint: "t1"}},
	}
	ans, err := send(ctx, url, connect, testKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := ans.Connect()
	if err != nil {
		t.Fatalf("connect: %v (%d %s)", err, ans.Status, ans.Body)
	}
	want := &ConnectResponse{UserID: "peer:alice", Groups: []string{"g1", "g2"}, Roles: []string{"webpubsub.joinLeaveGroup"}, Subprotocol: "json.reliable.webpubsub.azure.v1"}
	if !reflect.DeepEqual(cr, want) {
		t.Errorf("connect answer %+v, want %+v", cr, want)
	}
	raw, ok := ans.State()
	if !ok {
		t.Fatal("Express set no state")
	}
	state, err := DecodeState(raw) // Express's encoding, read by us
	if err != nil {
		t.Fatalf("Express's state %q: %v", raw, err)
	}
	var seenByPeer struct {
		Context                peerContext
		Claims, Query, Headers map[string][]string
		Subprotocols           []string
		ClientCertificates     []ClientCertificate
	}
	if ok, err := state.Get("connect", &seenByPeer); !ok || err != nil {
		t.Fatalf("connect state: %v %v", ok, err)
	}
	pc := seenByPeer.Context
	if pc.Hub != "chat" || pc.ConnectionID != cc.ConnectionID || pc.UserID != "alice" || pc.EventName != "connect" || pc.Origin != "svc.example" {
		t.Errorf("Express read context %+v", pc)
	}
	if !reflect.DeepEqual(pc.States, map[string]any{"from": "go", "n": 7.0}) {
		t.Errorf("Express read our state as %v", pc.States)
	}
	if !reflect.DeepEqual(seenByPeer.Claims, connect.Claims) || !reflect.DeepEqual(seenByPeer.Query, connect.Query) ||
		!reflect.DeepEqual(seenByPeer.Headers, connect.Headers) || !reflect.DeepEqual(seenByPeer.Subprotocols, connect.Subprotocols) ||
		!reflect.DeepEqual(seenByPeer.ClientCertificates, connect.ClientCertificates) {
		t.Errorf("Express read body %+v", seenByPeer)
	}
	// Express merged its key into ours: the whole state came back.
	var n int
	if ok, _ := state.Get("n", &n); !ok || n != 7 {
		t.Errorf("merged state lost our key: %v", state.Keys())
	}
	cc.RawState = ans.NextState(cc.RawState)
	cc.UserID = cr.UserID
	cc.Subprotocol = cr.Subprotocol

	// connect refusals, plain and MQTT.
	rej := &ConnectRequest{ConnectionContext: cc, Query: map[string][]string{"reject": {"1"}}}
	ans, _ = send(ctx, url, rej, testKey)
	var e *Error
	if err := ans.Err(); !errors.As(err, &e) || e.Status != 401 || e.Message != "rejected "+cc.ConnectionID {
		t.Errorf("Express refusal read as %v", err)
	}
	mq := &ConnectRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "m1", Subprotocol: "mqtt", PhysicalConnectionID: "p1"},
		MQTT: &MQTTConnectProperties{ProtocolVersion: 5, Username: "bad"}}
	ans, _ = send(ctx, url, mq, testKey)
	if err := ans.Err(); !errors.As(err, &e) || e.Status != 401 || e.MQTT == nil || e.MQTT.Code != 0x86 || e.Message != "peer says bad credentials" {
		t.Errorf("Express MQTT refusal read as %v (%s)", err, ans.Body)
	}

	// user events of each data type, with the state carried along.
	for i, tc := range []struct {
		data     []byte
		dt       DataType
		wantData any
	}{
		{[]byte("hello"), DataText, "hello"},
		{[]byte(`{"a":[1,"x"]}`), DataJSON, map[string]any{"a": []any{1.0, "x"}}},
		{[]byte{0, 1, 254, 255}, DataBinary, base64.StdEncoding.EncodeToString([]byte{0, 1, 254, 255})},
	} {
		ue := &UserEventRequest{ConnectionContext: cc, Data: tc.data, DataType: tc.dt}
		ans, err := send(ctx, url, ue, testKey)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ans.UserEvent()
		if err != nil || r == nil || r.DataType != DataJSON {
			t.Fatalf("%d: %v %+v", i, err, r)
		}
		var echo struct {
			Context  peerContext
			DataType DataType
			Data     any
			Seen     int
		}
		if err := json.Unmarshal(r.Data, &echo); err != nil {
			t.Fatalf("%d: %s", i, r.Data)
		}
		if echo.DataType != tc.dt || !reflect.DeepEqual(echo.Data, tc.wantData) || echo.Context.EventName != "message" ||
			echo.Context.UserID != "peer:alice" || echo.Context.ClientProtocol != "default" || echo.Seen != i+1 {
			t.Errorf("%d: Express read %+v", i, echo)
		}
		if echo.Context.States["from"] != "go" || echo.Context.States["connect"] == nil {
			t.Errorf("%d: state lost: %v", i, echo.Context.States)
		}
		cc.RawState = ans.NextState(cc.RawState)
	}
	// An MQTT user event: Express tells MQTT by subprotocol + physical id.
	mqttEv := &UserEventRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "client-9", Subprotocol: "mqtt",
		PhysicalConnectionID: "phys-9", SessionID: "sess-9"}, Data: []byte("m"), DataType: DataText}
	ans, err = send(ctx, url, mqttEv, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ans.UserEvent(); err != nil || r == nil {
		t.Fatalf("mqtt user event: %v", err)
	} else {
		var echo struct{ Context peerContext }
		json.Unmarshal(r.Data, &echo)
		if echo.Context.ClientProtocol != "mqtt" || echo.Context.MQTT == nil || echo.Context.MQTT.PhysicalConnectionID != "phys-9" || echo.Context.MQTT.SessionID != "sess-9" {
			t.Errorf("Express read MQTT context %s", r.Data)
		}
	}

	// Replies of each type read back by us.
	ue := &UserEventRequest{ConnectionContext: cc, Data: []byte("hi"), DataType: DataText}
	ue.EventName = "text"
	ans, _ = send(ctx, url, ue, testKey)
	if r, err := ans.UserEvent(); err != nil || string(r.Data) != "text:hi" || r.DataType != DataText {
		t.Errorf("text reply %+v %v", r, err)
	}
	ue = &UserEventRequest{ConnectionContext: cc, Data: []byte{1, 2, 3}, DataType: DataBinary}
	ue.EventName = "binary"
	ans, _ = send(ctx, url, ue, testKey)
	if r, err := ans.UserEvent(); err != nil || !reflect.DeepEqual(r.Data, []byte{3, 2, 1}) || r.DataType != DataBinary {
		t.Errorf("binary reply %+v %v", r, err)
	}
	ue = &UserEventRequest{ConnectionContext: cc, Data: []byte("x"), DataType: DataText}
	ue.EventName = "fail"
	ans, _ = send(ctx, url, ue, testKey)
	if err := ans.Err(); !errors.As(err, &e) || e.Status != 400 || e.Message != "peer refuses x" {
		t.Errorf("user event refusal read as %v", err)
	}

	// Notifications: Express runs them after answering, so poll its log.
	left := &GroupEventRequest{ConnectionContext: cc, Group: "g2"}
	left.EventName = "left"
	for _, ev := range []Event{
		&ConnectedRequest{ConnectionContext: cc},
		&GroupEventRequest{ConnectionContext: cc, Group: "g1"},
		left,
		&DisconnectedRequest{ConnectionContext: cc, Reason: "bye now"},
	} {
		if ans, err := send(ctx, url, ev, testKey); err != nil || ans.Status != 200 {
			t.Fatalf("%T: %v %+v", ev, err, ans)
		}
	}
	var got []struct {
		Kind, Group, Reason string
		Context             peerContext
	}
	for deadline := time.Now().Add(5 * time.Second); len(got) < 4 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/log")
		if err != nil {
			t.Fatal(err)
		}
		var more []struct {
			Kind, Group, Reason string
			Context             peerContext
		}
		json.NewDecoder(resp.Body).Decode(&more)
		resp.Body.Close()
		got = append(got, more...)
	}
	if len(got) != 4 {
		t.Fatalf("Express saw %d notifications: %+v", len(got), got)
	}
	wantKinds := []string{"connected", "joined", "left", "disconnected"}
	for i, g := range got {
		if g.Kind != wantKinds[i] || g.Context.ConnectionID != cc.ConnectionID || g.Context.UserID != "peer:alice" || g.Context.States["from"] != "go" {
			t.Errorf("notification %d: %+v", i, g)
		}
	}
	if got[1].Group != "g1" || got[2].Group != "g2" || got[3].Reason != "bye now" {
		t.Errorf("notification fields: %+v", got)
	}
}
