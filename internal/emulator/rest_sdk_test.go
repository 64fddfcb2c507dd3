package emulator

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/nodetest"
)

// nodePeer is a line-oriented Node.js peer: one JSON command in, one JSON line out.
type nodePeer struct {
	t     *testing.T
	in    io.WriteCloser
	lines *bufio.Scanner
}

func startPeer(t *testing.T, script string, args ...string) *nodePeer {
	return startPeerEnv(t, nil, script, args...)
}

// startPeerEnv starts the peer with extra environment variables.
func startPeerEnv(t *testing.T, env []string, script string, args ...string) *nodePeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	cmd := nodetest.Command(ctx, t, script, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if t.Failed() {
			cancel() // do not wait for a peer stuck in its scenario
		}
		cmd.Wait()
		cancel()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("node %s stderr:\n%s", script, stderr.String())
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &nodePeer{t: t, in: in, lines: sc}
}

// line reads the peer's next output line as JSON into v.
func (p *nodePeer) line(v any) {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("node peer ended: %v", p.lines.Err())
	}
	if err := json.Unmarshal(p.lines.Bytes(), v); err != nil {
		p.t.Fatalf("node peer line %q: %v", p.lines.Bytes(), err)
	}
}

type sdkAnswer struct {
	OK      bool            `json:"ok"`
	Result  json.RawMessage `json:"result"`
	Status  int             `json:"status"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

func (p *nodePeer) call(cmd map[string]any) sdkAnswer {
	p.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		p.t.Fatal(err)
	}
	var a sdkAnswer
	p.line(&a)
	return a
}

// do runs an SDK operation that must succeed and returns its result.
func (p *nodePeer) do(op string, args ...any) string {
	p.t.Helper()
	a := p.call(map[string]any{"op": op, "args": args})
	if !a.OK {
		p.t.Fatalf("%s%v: %d %s %s", op, args, a.Status, a.Code, a.Message)
	}
	return string(a.Result)
}

func (p *nodePeer) group(g, op string, args ...any) string {
	p.t.Helper()
	a := p.call(map[string]any{"group": g, "op": op, "args": args})
	if !a.OK {
		p.t.Fatalf("group(%s).%s%v: %d %s", g, op, args, a.Status, a.Message)
	}
	return string(a.Result)
}

func wantMsg(t *testing.T, cl *client, dataType, data string) {
	t.Helper()
	m := cl.read()
	if m["type"] != "message" || m["from"] != "server" || m["dataType"] != dataType || fmt.Sprint(m["data"]) != data {
		t.Fatalf("client %s got %v, want %s %q", cl.id, m, dataType, data)
	}
}

// wantGroupMsg reads a REST group send: from the group, no fromUserId.
func wantGroupMsg(t *testing.T, cl *client, group, dataType, data string) {
	t.Helper()
	m := cl.read()
	_, from := m["fromUserId"]
	if m["type"] != "message" || m["from"] != "group" || m["group"] != group || from || m["dataType"] != dataType || fmt.Sprint(m["data"]) != data {
		t.Fatalf("client %s got %v, want group %s %s %q", cl.id, m, group, dataType, data)
	}
}

func groupsOf(e *testEnv, id string) []string {
	for _, h := range e.s.Snapshot().Hubs {
		for _, c := range h.Connections {
			if c.ID == id {
				return c.Groups
			}
		}
	}
	return nil
}

// TestRESTWithJSSDK drives every REST operation through Microsoft's
// @azure/web-pubsub 1.2.0 and checks each effect on real connections.
func TestRESTWithJSSDK(t *testing.T) {
	nodetest.Require(t)
	e := newEnv(t, Config{})
	a1 := e.connect("chat", "alice", SubprotocolJSON)
	a2 := e.connect("chat", "alice", SubprotocolJSON)
	b := e.connect("chat", "bob", SubprotocolJSON)
	c := e.connect("chat", "o'brien", SubprotocolJSON)
	all := []*client{a1, a2, b, c}
	js := startPeer(t, "emulator-rest.js", e.s.ConnectionString(e.base), "chat")
	text := map[string]any{"contentType": "text/plain"}

	js.do("sendToAll", "hello all", text)
	for _, cl := range all {
		wantMsg(t, cl, "text", "hello all")
	}
	js.do("sendToAll", map[string]any{"x": 1}, map[string]any{"filter": "userId ne 'bob'"})
	for _, cl := range []*client{a1, a2, c} {
		wantMsg(t, cl, "json", "map[x:1]")
	}
	js.do("sendToAll", map[string]any{"$binary": "AQID"}, map[string]any{"excludedConnections": []string{a1.id}})
	for _, cl := range []*client{a2, b, c} {
		wantMsg(t, cl, "binary", "AQID")
	}
	js.do("sendToUser", "alice", "hi alice", text)
	for _, cl := range []*client{a1, a2} {
		wantMsg(t, cl, "text", "hi alice")
	}
	js.do("sendToUser", "o'brien", "quoted user", text)
	wantMsg(t, c, "text", "quoted user")
	js.do("sendToConnection", b.id, "direct", text)
	wantMsg(t, b, "text", "direct")
	for _, cl := range all {
		cl.noMessage(20 * time.Millisecond)
	}

	// Groups.
	js.group("room one", "addConnection", a1.id)
	js.group("room one", "addUser", "bob")
	if r := js.do("groupExists", "room one"); r != "true" {
		t.Fatalf("groupExists = %s", r)
	}
	if r := js.do("groupExists", "empty"); r != "false" {
		t.Fatalf("groupExists(empty) = %s", r)
	}
	js.group("room one", "sendToAll", "to the room", text)
	wantGroupMsg(t, a1, "room one", "text", "to the room")
	wantGroupMsg(t, b, "room one", "text", "to the room")
	var list struct {
		Members []struct{ ConnectionID, UserID string }
		Pages   int
	}
	a := js.call(map[string]any{"op": "listConnections", "group": "room one", "args": []any{map[string]any{"maxPageSize": 1}}})
	if !a.OK || json.Unmarshal(a.Result, &list) != nil {
		t.Fatalf("listConnections: %+v", a)
	}
	ids := []string{}
	for _, m := range list.Members {
		ids = append(ids, m.ConnectionID+"/"+m.UserID)
	}
	slices.Sort(ids)
	want := []string{a1.id + "/alice", b.id + "/bob"}
	slices.Sort(want)
	if fmt.Sprint(ids) != fmt.Sprint(want) || list.Pages != 2 {
		t.Fatalf("listConnections = %v in %d pages, want %v in 2", ids, list.Pages, want)
	}
	js.group("room one", "removeConnection", a1.id)
	js.group("room one", "removeUser", "bob")
	if r := js.do("groupExists", "room one"); r != "false" {
		t.Fatalf("groupExists after removals = %s", r)
	}
	js.do("addConnectionsToGroups", []string{"g1", "g2"}, "userId eq 'alice'")
	if g := groupsOf(e, a1.id); fmt.Sprint(g) != "[g1 g2]" || fmt.Sprint(groupsOf(e, a2.id)) != "[g1 g2]" || len(groupsOf(e, b.id)) != 0 {
		t.Fatalf("after addConnectionsToGroups: %v %v %v", g, groupsOf(e, a2.id), groupsOf(e, b.id))
	}
	js.do("removeConnectionsFromGroups", []string{"g1"}, "connectionId eq '"+a1.id+"'")
	if g := groupsOf(e, a1.id); fmt.Sprint(g) != "[g2]" {
		t.Fatalf("after removeConnectionsFromGroups: %v", g)
	}
	js.do("removeConnectionFromAllGroups", a1.id)
	if g := groupsOf(e, a1.id); len(g) != 0 || len(groupsOf(e, a2.id)) != 2 {
		t.Fatalf("after removeConnectionFromAllGroups: %v %v", g, groupsOf(e, a2.id))
	}
	js.do("removeUserFromAllGroups", "alice")
	if g := groupsOf(e, a2.id); len(g) != 0 {
		t.Fatalf("after removeUserFromAllGroups: %v", g)
	}

	// Existence.
	for _, tc := range []struct {
		op, arg, want string
	}{
		{"connectionExists", b.id, "true"}, {"connectionExists", "nope", "false"},
		{"userExists", "alice", "true"}, {"userExists", "nobody", "false"},
	} {
		if r := js.do(tc.op, tc.arg); r != tc.want {
			t.Fatalf("%s(%s) = %s, want %s", tc.op, tc.arg, r, tc.want)
		}
	}

	// Permissions, checked by what the connection may then do.
	room := map[string]any{"targetName": "room"}
	js.do("grantPermission", b.id, "sendToGroup", room)
	if r := js.do("hasPermission", b.id, "sendToGroup", room); r != "true" {
		t.Fatalf("hasPermission after grant = %s", r)
	}
	if r := js.do("hasPermission", b.id, "sendToGroup", map[string]any{"targetName": "other"}); r != "false" {
		t.Fatalf("hasPermission(other) = %s", r)
	}
	b.send(map[string]any{"type": "sendToGroup", "group": "room", "ackId": 1, "data": 1})
	wantAck(t, b.read(), 1, "")
	b.send(map[string]any{"type": "sendToGroup", "group": "other", "ackId": 2, "data": 1})
	wantAck(t, b.read(), 2, "Forbidden")
	js.do("revokePermission", b.id, "sendToGroup", room)
	if r := js.do("hasPermission", b.id, "sendToGroup", room); r != "false" {
		t.Fatalf("hasPermission after revoke = %s", r)
	}
	b.send(map[string]any{"type": "sendToGroup", "group": "room", "ackId": 3, "data": 1})
	wantAck(t, b.read(), 3, "Forbidden")
	js.do("grantPermission", b.id, "joinLeaveGroup")
	b.send(map[string]any{"type": "joinGroup", "group": "anything", "ackId": 4})
	wantAck(t, b.read(), 4, "")
	if a := js.call(map[string]any{"op": "grantPermission", "args": []any{"missing", "sendToGroup"}}); a.OK || a.Status != 404 {
		t.Fatalf("grant on a missing connection: %+v", a)
	}

	// Client access: the SDK's local token connects.
	var tok struct{ URL, Token string }
	if err := json.Unmarshal([]byte(js.do("getClientAccessToken", map[string]any{"userId": "tk", "roles": []string{"webpubsub.joinLeaveGroup"}})), &tok); err != nil {
		t.Fatal(err)
	}
	tc, _, err := websocket.Dial(context.Background(), tok.URL, &websocket.DialOptions{Subprotocols: []string{SubprotocolJSON}})
	if err != nil {
		t.Fatalf("dial the SDK's URL %s: %v", tok.URL, err)
	}
	tcl := newClient(t, tc)
	if m := tcl.read(); m["userId"] != "tk" {
		t.Fatalf("connected with the SDK's token as %v", m)
	}

	// Closing.
	js.do("closeConnection", c.id, map[string]any{"reason": "bye o'brien"})
	if code, msgs := c.closeStatus(); code != websocket.StatusNormalClosure || len(msgs) != 1 || msgs[0]["message"] != "bye o'brien" {
		t.Fatalf("closeConnection: %v %v", code, msgs)
	}
	js.group("anything", "closeAllConnections", map[string]any{"reason": "group closed"})
	if code, msgs := b.closeStatus(); code != websocket.StatusNormalClosure || msgs[len(msgs)-1]["message"] != "group closed" {
		t.Fatalf("group closeAllConnections: %v %v", code, msgs)
	}
	js.do("closeUserConnections", "alice", map[string]any{"reason": "alice out"})
	for _, cl := range []*client{a1, a2} {
		if code, msgs := cl.closeStatus(); code != websocket.StatusNormalClosure || msgs[len(msgs)-1]["message"] != "alice out" {
			t.Fatalf("closeUserConnections: %v %v", code, msgs)
		}
	}
	js.do("closeAllConnections")
	if code, _ := tcl.closeStatus(); code != websocket.StatusNormalClosure {
		t.Fatalf("closeAllConnections: %v", code)
	}
	eventually(t, "no connections", func() bool { return len(e.s.hub("chat").connections()) == 0 })

	// The REST calls were traced without their tokens.
	for _, ev := range e.traceKinds(TraceREST) {
		if strings.Contains(ev.Summary, "eyJ") {
			t.Fatalf("trace leaks a token: %s", ev.Summary)
		}
	}
}

// TestRESTWithJSSDKEntra runs the SDK with a TokenCredential (on the
// emulator's managed-identity endpoint), so getClientAccessToken calls
// :generateToken. The SDK
// sends bearer tokens over https only: this emulator serves TLS.
func TestRESTWithJSSDKEntra(t *testing.T) {
	nodetest.Require(t)
	e := newTLSEnv(t, Config{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	peerEnv := []string{"NODE_EXTRA_CA_CERTS=" + ca}
	for k, v := range e.s.ManagedIdentityEnv(e.base) {
		peerEnv = append(peerEnv, k+"="+v)
	}
	entra := startPeerEnv(t, peerEnv, "emulator-rest.js", e.s.ConnectionString(e.base), "chat", "entra")
	var gen struct{ URL, Token string }
	if err := json.Unmarshal([]byte(entra.do("getClientAccessToken", map[string]any{"userId": "gen", "groups": []string{"g9"}, "roles": []string{"webpubsub.sendToGroup.g9"}})), &gen); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(gen.URL, "wss://127.0.0.1:") {
		t.Fatalf("URL = %s", gen.URL)
	}
	gc, _, err := websocket.Dial(context.Background(), gen.URL, &websocket.DialOptions{HTTPClient: e.srv.Client(), Subprotocols: []string{SubprotocolJSON}})
	if err != nil {
		t.Fatalf("dial the :generateToken URL: %v", err)
	}
	gcl := newClient(t, gc)
	if m := gcl.read(); m["userId"] != "gen" {
		t.Fatalf("connected with the generated token as %v", m)
	}
	// The token's group and role came through.
	gcl.send(map[string]any{"type": "sendToGroup", "group": "g9", "ackId": 1, "dataType": "text", "data": "self"})
	if m := gcl.read(); m["data"] != "self" {
		t.Fatalf("got %v", m)
	}
	wantAck(t, gcl.read(), 1, "")
	entra.group("g9", "sendToAll", "via entra", map[string]any{"contentType": "text/plain"})
	wantGroupMsg(t, gcl, "g9", "text", "via entra")
	gc.CloseNow()
	n := 0
	for _, ev := range e.traceKinds(TraceREST) {
		if !strings.HasPrefix(ev.Summary, "managed identity token") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d REST calls traced, want 2 (:generateToken and the send)", n)
	}
}
