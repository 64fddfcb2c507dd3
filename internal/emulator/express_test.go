package emulator

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/nodetest"
)

type expressRecord struct {
	Kind, Hub, ConnectionID, UserID, EventName, Subprotocol, Signature, Origin string
	States                                                                     map[string]any
	Claims, Query                                                              map[string][]string
	Subprotocols                                                               []string
	DataType                                                                   string
	Data                                                                       any
	Reason                                                                     string
	Group                                                                      string
}

// TestExpressEventHandler: Microsoft's @azure/web-pubsub-express 1.1.0 is
// the hub's upstream; it must accept the emulator's validation and events
// and read from them what a real service would send.
func TestExpressEventHandler(t *testing.T) {
	nodetest.Require(t)
	peer := startPeer(t, "emulator-express.js", "chat")
	var hello struct{ Port int }
	peer.line(&hello)
	base := fmt.Sprintf("http://127.0.0.1:%d", hello.Port)

	e := newEnv(t, Config{})
	e.s.SetHub("Chat", HubSettings{EventHandlers: []EventHandler{{
		URLTemplate: base + "/eventhandler/{event}", UserEvents: "*",
		SystemEvents: []string{"connect", "connected", "disconnected"}, GroupEvents: true,
	}}})

	c, _, err := e.dial("chat", e.token("chat", "u1", "webpubsub.sendToGroup"), SubprotocolJSONReliable, "lang=go")
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c)
	if m := cl.read(); m["userId"] != "ex-u1" {
		t.Fatalf("connected = %v, want the userId express chose", m)
	}
	cl.send(map[string]any{"type": "event", "event": "hello", "ackId": 1, "dataType": "json", "data": map[string]any{"k": "v"}})
	if m := cl.read(); m["data"] != `got:{"k":"v"}` || m["dataType"] != "text" {
		t.Fatalf("reply = %v", m)
	}
	wantAck(t, cl.read(), 1, "")
	cl.send(map[string]any{"type": "event", "event": "hello", "ackId": 2, "dataType": "text", "data": "second"})
	if m := cl.read(); m["data"] != "got:second" {
		t.Fatalf("reply = %v", m)
	}
	wantAck(t, cl.read(), 2, "")
	cl.send(map[string]any{"type": "joinGroup", "group": "g2", "ackId": 3})
	wantAck(t, cl.read(), 3, "")
	c.Close(websocket.StatusNormalClosure, "")

	// Express refuses a connect with its status and text.
	_, resp, err := e.dial("chat", e.token("chat", "u2"), "", "reject=1")
	if err == nil {
		t.Fatal("express-rejected connect succeeded")
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 401 || !strings.Contains(string(body), "rejected by express") {
		t.Fatalf("rejected connect: %d %q", resp.StatusCode, body)
	}

	var recs []expressRecord
	eventually(t, "express records", func() bool {
		if !getJSON(base+"/records", &recs) {
			return false
		}
		n := 0
		for _, r := range recs {
			if r.Kind == "disconnected" {
				n++
			}
		}
		return n == 1
	})
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
		if r.Hub != "Chat" && r.Hub != "chat" || r.Signature != "present" || r.Origin != "localhost" {
			t.Errorf("%s: hub %q signature %s origin %q", r.Kind, r.Hub, r.Signature, r.Origin)
		}
	}
	// connected and the joins are notifications, interleaved with the blocking events.
	for _, want := range []string{"connect", "connected", "joined", "user", "joined", "disconnected", "connect"} {
		if !strings.Contains(strings.Join(kinds, ","), want) {
			t.Fatalf("express got %v, missing %s", kinds, want)
		}
	}
	byKind := map[string][]expressRecord{}
	for _, r := range recs {
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	connect := byKind["connect"][0]
	if fmt.Sprint(connect.Claims["sub"]) != "[u1]" || fmt.Sprint(connect.Query["lang"]) != "[go]" ||
		fmt.Sprint(connect.Subprotocols) != "["+SubprotocolJSONReliable+"]" || connect.UserID != "u1" {
		t.Fatalf("connect as express read it: %+v", connect)
	}
	users := byKind["user"]
	if len(users) != 2 || users[0].EventName != "hello" || users[0].UserID != "ex-u1" || fmt.Sprint(users[0].Data) != "map[k:v]" ||
		users[1].DataType != "text" || users[1].Data != "second" {
		t.Fatalf("user events as express read them: %+v", users)
	}
	// The state set on connect and by the first event travels back.
	if fmt.Sprint(users[0].States["counter"]) != "0" || fmt.Sprint(users[1].States["counter"]) != "1" {
		t.Fatalf("states: %v, %v", users[0].States, users[1].States)
	}
	dis := byKind["disconnected"][0]
	if fmt.Sprint(dis.States["counter"]) != "2" || !strings.HasPrefix(dis.Reason, "ClientClosed") {
		t.Fatalf("disconnected as express read it: %+v", dis)
	}
	var groups []string
	for _, r := range byKind["joined"] {
		groups = append(groups, r.Group)
	}
	if fmt.Sprint(groups) != "[exg g2]" {
		t.Fatalf("joined events: %v", groups)
	}
}
