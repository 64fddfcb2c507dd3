package emulator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

func errName(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["name"].(string)
	return s
}

func wantAck(t *testing.T, m map[string]any, id float64, errWant string) {
	t.Helper()
	if m["type"] != "ack" || m["ackId"] != id {
		t.Fatalf("got %v, want ack %v", m, id)
	}
	if errWant == "" && m["success"] != true {
		t.Fatalf("ack %v failed: %v", id, m)
	}
	if errWant != "" && (m["success"] != false || errName(m) != errWant) {
		t.Fatalf("ack %v = %v, want error %s", id, m, errWant)
	}
}

func TestJSONProtocolGroups(t *testing.T) {
	e := newEnv(t, Config{})
	alice := e.connect("chat", "alice", SubprotocolJSON, "webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")
	bob := e.connect("chat", "bob", SubprotocolJSON, "webpubsub.joinLeaveGroup.room1")

	alice.send(map[string]any{"type": "joinGroup", "group": "room1", "ackId": 1})
	wantAck(t, alice.read(), 1, "")
	bob.send(map[string]any{"type": "joinGroup", "group": "room1", "ackId": 1})
	wantAck(t, bob.read(), 1, "")
	// A group-scoped role allows room1 only.
	bob.send(map[string]any{"type": "joinGroup", "group": "room2", "ackId": 2})
	wantAck(t, bob.read(), 2, "Forbidden")
	// Bob has no send permission.
	bob.send(map[string]any{"type": "sendToGroup", "group": "room1", "ackId": 3, "dataType": "text", "data": "hi"})
	wantAck(t, bob.read(), 3, "Forbidden")
	// A refused message was not processed: resent with its ackId, it is
	// refused again, not a Duplicate (which the client SDKs take for success).
	bob.send(map[string]any{"type": "sendToGroup", "group": "room1", "ackId": 3, "dataType": "text", "data": "hi"})
	wantAck(t, bob.read(), 3, "Forbidden")
	// The same ackId again is a Duplicate, and is not processed.
	bob.send(map[string]any{"type": "leaveGroup", "group": "room1", "ackId": 1})
	wantAck(t, bob.read(), 1, "Duplicate")

	// JSON, text and binary data reach both members; the sender gets its ack after its copy.
	alice.send(map[string]any{"type": "sendToGroup", "group": "room1", "ackId": 2, "dataType": "json", "data": map[string]any{"x": 1}})
	alice.send(map[string]any{"type": "sendToGroup", "group": "room1", "ackId": 3, "dataType": "text", "data": "héllo"})
	alice.send(map[string]any{"type": "sendToGroup", "group": "room1", "ackId": 4, "dataType": "binary", "data": base64.StdEncoding.EncodeToString([]byte{0, 1, 2})})
	wantData := []string{"map[x:1]", "héllo", "AAEC"}
	wantTypes := []string{"json", "text", "binary"}
	for i := range 3 {
		for _, cl := range []*client{alice, bob} {
			m := cl.read()
			if m["type"] != "message" || m["from"] != "group" || m["group"] != "room1" || m["fromUserId"] != "alice" ||
				m["dataType"] != wantTypes[i] || fmt.Sprint(m["data"]) != wantData[i] {
				t.Fatalf("message %d = %v", i, m)
			}
			if _, ok := m["sequenceId"]; ok {
				t.Fatalf("json.webpubsub.azure.v1 message carries a sequenceId: %v", m)
			}
		}
		wantAck(t, alice.read(), float64(2+i), "")
	}
	// noEcho: alice does not get her own message.
	alice.send(map[string]any{"type": "sendToGroup", "group": "room1", "noEcho": true, "dataType": "text", "data": "quiet"})
	if m := bob.read(); m["data"] != "quiet" {
		t.Fatalf("bob got %v", m)
	}
	alice.noMessage(200 * time.Millisecond)

	// Leave: bob no longer receives.
	bob.send(map[string]any{"type": "leaveGroup", "group": "room1", "ackId": 9})
	wantAck(t, bob.read(), 9, "")
	alice.send(map[string]any{"type": "sendToGroup", "group": "room1", "dataType": "text", "data": "after"})
	if m := alice.read(); m["data"] != "after" {
		t.Fatalf("alice got %v", m)
	}
	bob.noMessage(200 * time.Millisecond)

	// ping → pong; unknown types are ignored.
	bob.send(map[string]any{"type": "someFutureThing"})
	bob.send(map[string]any{"type": "ping"})
	if m := bob.read(); m["type"] != "pong" {
		t.Fatalf("ping answer = %v", m)
	}

	snap := e.s.Snapshot()
	if len(snap.Hubs) != 1 || len(snap.Hubs[0].Connections) != 2 || fmt.Sprint(snap.Hubs[0].Groups["room1"]) != fmt.Sprint([]string{alice.id}) {
		t.Fatalf("snapshot = %+v", snap)
	}
	var in, out int
	for _, ev := range e.traceKinds(TraceFrameIn) {
		if ev.ConnectionID == alice.id && strings.Contains(ev.Detail, `"type":"joinGroup"`) {
			in++
		}
	}
	for _, ev := range e.traceKinds(TraceFrameOut) {
		if ev.ConnectionID == bob.id && strings.HasPrefix(ev.Summary, "ack ") && strings.Contains(ev.Summary, "Forbidden") {
			out++
		}
	}
	if in != 1 || out != 3 {
		t.Fatalf("frame traces: %d of alice's joinGroup in, %d Forbidden acks to bob out", in, out)
	}
	if len(e.traceKinds(TraceGroupJoin)) != 2 || len(e.traceKinds(TraceGroupLeave)) != 1 {
		t.Fatalf("group traces: %d joins, %d leaves", len(e.traceKinds(TraceGroupJoin)), len(e.traceKinds(TraceGroupLeave)))
	}
}

func TestWildcardRoles(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.connect("chat", "u", SubprotocolJSON, "webpubsub.joinLeaveGroups.team.*", "webpubsub.sendToGroups.team.**")
	for i, tc := range []struct {
		typ, group, err string
	}{
		{"joinGroup", "team.a", ""},
		{"joinGroup", "team.a.b", "Forbidden"}, // * stops at '.'
		{"joinGroup", "other", "Forbidden"},
		{"sendToGroup", "team.a.b", ""}, // ** crosses '.'
		{"sendToGroup", "teamx", "Forbidden"},
	} {
		id := float64(i + 1)
		c.send(map[string]any{"type": tc.typ, "group": tc.group, "ackId": id, "data": 1})
		wantAck(t, c.read(), id, tc.err)
	}
}

func TestPlainWebSocket(t *testing.T) {
	e := newEnv(t, Config{})
	// sendToGroup mode: every frame goes to the group; needs permission.
	tok := e.token("chat", "writer", "webpubsub.sendToGroup.g")
	w, _, err := e.dial("chat", tok, "", "webpubsub_mode=sendToGroup&group=g")
	if err != nil {
		t.Fatal(err)
	}
	defer w.CloseNow()
	reader := e.connect("chat", "reader", "", "")
	json := e.connect("chat", "jreader", SubprotocolJSON)
	for user, cl := range map[string]*client{"reader": reader, "jreader": json} {
		if code, _, _ := e.rest("PUT", "/api/hubs/chat/groups/g/connections/"+connID(t, e, cl, user), "", nil); code != 200 {
			t.Fatalf("add to group: %d", code)
		}
	}
	ctx := context.Background()
	w.Write(ctx, websocket.MessageText, []byte("plain text"))
	w.Write(ctx, websocket.MessageBinary, []byte{9, 8})
	if typ, b := reader.readRaw(); typ != websocket.MessageText || string(b) != "plain text" {
		t.Fatalf("raw reader got %v %q", typ, b)
	}
	if typ, b := reader.readRaw(); typ != websocket.MessageBinary || string(b) != "\x09\x08" {
		t.Fatalf("raw reader got %v %q", typ, b)
	}
	if m := json.read(); m["data"] != "plain text" || m["dataType"] != "text" || m["fromUserId"] != "writer" {
		t.Fatalf("json reader got %v", m)
	}
	if m := json.read(); m["data"] != "CQg=" || m["dataType"] != "binary" {
		t.Fatalf("json reader got %v", m)
	}

	// Without permission the frames are dropped and the connection stays.
	tok = e.token("chat", "nobody")
	n, _, err := e.dial("chat", tok, "", "webpubsub_mode=sendToGroup&group=g")
	if err != nil {
		t.Fatal(err)
	}
	defer n.CloseNow()
	n.Write(ctx, websocket.MessageText, []byte("sneaky"))
	reader.noMessage(200 * time.Millisecond)
	// sendToGroup mode needs exactly one group.
	if _, resp, err := e.dial("chat", tok, "", "webpubsub_mode=sendToGroup"); err == nil || resp.StatusCode != 400 {
		t.Fatalf("sendToGroup without group: %v", err)
	}
	// REST sends arrive unwrapped: JSON as text, binary as binary.
	e.rest("POST", "/api/hubs/chat/:send", "application/json", []byte(`"quoted"`))
	if typ, b := reader.readRaw(); typ != websocket.MessageText || string(b) != `"quoted"` {
		t.Fatalf("raw reader got %v %q", typ, b)
	}
}

// connID finds a raw client's connection id from the snapshot by its user
// (a raw client gets no connected message; its Dial may return before the
// emulator registered it).
func connID(t *testing.T, e *testEnv, cl *client, user string) string {
	t.Helper()
	if cl.id != "" {
		return cl.id
	}
	eventually(t, "connection of "+user, func() bool {
		for _, h := range e.s.Snapshot().Hubs {
			for _, c := range h.Connections {
				if c.UserID == user {
					cl.id = c.ID
					return true
				}
			}
		}
		return false
	})
	return cl.id
}

func TestReliableRecovery(t *testing.T) {
	e := newEnv(t, Config{})
	cl, id, rt := e.connectReliable(t, "r", "webpubsub.joinLeaveGroup")
	for i := 1; i <= 3; i++ {
		e.rest("POST", "/api/hubs/chat/connections/"+id+"/:send", "text/plain", []byte(fmt.Sprint(i)))
	}
	for i := 1; i <= 3; i++ {
		m := cl.read()
		if m["sequenceId"] != float64(i) || m["data"] != fmt.Sprint(i) || m["from"] != "server" {
			t.Fatalf("message %d = %v", i, m)
		}
	}
	cl.send(map[string]any{"type": "sequenceAck", "sequenceId": 2})
	eventually(t, "ack processed", func() bool {
		conn := e.s.hub("chat").conn(id)
		conn.omu.Lock()
		defer conn.omu.Unlock()
		return len(conn.unacked) == 1
	})
	// The network fails; messages sent meanwhile wait.
	if !e.s.DropSocket(id) {
		t.Fatal("DropSocket found no socket")
	}
	eventually(t, "socket detached", func() bool { return !e.s.hub("chat").conn(id).hasSocket() })
	for i := 4; i <= 5; i++ {
		e.rest("POST", "/api/hubs/chat/connections/"+id+"/:send", "text/plain", []byte(fmt.Sprint(i)))
	}
	// A wrong token is refused with 1008; the session survives.
	bad, _, err := e.dial("chat", "", SubprotocolJSONReliable, "awps_connection_id="+id+"&awps_reconnection_token=nope")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := newClient(t, bad).closeStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("bad token close = %v, want 1008", code)
	}
	c2, _, err := e.dial("chat", "", SubprotocolJSONReliable, "awps_connection_id="+id+"&awps_reconnection_token="+rt)
	if err != nil {
		t.Fatal(err)
	}
	cl2 := newClient(t, c2)
	defer c2.CloseNow()
	if m := cl2.read(); m["event"] != "connected" || m["connectionId"] != id {
		t.Fatalf("after recovery: %v", m)
	}
	// Unacknowledged 3, then 4 and 5: nothing lost.
	for i := 3; i <= 5; i++ {
		m := cl2.read()
		if m["sequenceId"] != float64(i) || m["data"] != fmt.Sprint(i) {
			t.Fatalf("recovered message %d = %v", i, m)
		}
	}
	// A normal close ends the session: recovery then gets 1008.
	c2.Close(websocket.StatusNormalClosure, "bye")
	eventually(t, "connection removed", func() bool { return e.s.hub("chat").conn(id) == nil })
	c3, _, err := e.dial("chat", "", SubprotocolJSONReliable, "awps_connection_id="+id+"&awps_reconnection_token="+rt)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := newClient(t, c3).closeStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("recovery of an ended session: close %v, want 1008", code)
	}
}

func TestReliableSessionExpires(t *testing.T) {
	e := newEnv(t, Config{ReconnectWindow: 200 * time.Millisecond})
	cl := e.connect("chat", "r", SubprotocolJSONReliable)
	e.s.DropSocket(cl.id)
	eventually(t, "session expiry", func() bool { return e.s.hub("chat").conn(cl.id) == nil })
	dis := e.traceKinds(TraceDisconnected)
	if len(dis) != 1 || !strings.HasPrefix(dis[0].Summary, "SessionExpired") {
		t.Fatalf("disconnected traces = %+v", dis)
	}
}

// A request that arrives while the emulator is shutting down, before its
// connection is closed, is answered InternalServerError and not carried out.
func TestShutdownRefusesRequests(t *testing.T) {
	e := newEnv(t, Config{})
	cl := e.connect("chat", "u", SubprotocolJSON, "webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")
	// An acked request first: the server has passed the handshake's own
	// shutdown check (which would close the connection) and is reading.
	cl.send(map[string]any{"type": "sendToGroup", "group": "warm-up", "ackId": 99, "dataType": "text", "data": "x"})
	wantAck(t, cl.read(), 99, "")
	e.s.closing.Store(true) // the moment between Shutdown's start and this connection's close
	cl.send(map[string]any{"type": "joinGroup", "group": "g", "ackId": 1})
	wantAck(t, cl.read(), 1, "InternalServerError")
	cl.send(map[string]any{"type": "sendToGroup", "group": "g", "ackId": 2, "dataType": "text", "data": "hi"})
	wantAck(t, cl.read(), 2, "InternalServerError")
	e.s.closing.Store(false)
	if g := e.s.hub("chat").groupsOf(e.s.hub("chat").conn(cl.id)); len(g) != 0 {
		t.Errorf("the refused join was carried out: groups %v", g)
	}
	// Not remembered as processed: the same ackId works once the service serves again.
	cl.send(map[string]any{"type": "joinGroup", "group": "g", "ackId": 1})
	wantAck(t, cl.read(), 1, "")
}

func TestShutdownSendsDisconnected(t *testing.T) {
	e := newEnv(t, Config{})
	cl := e.connect("chat", "u", SubprotocolJSON)
	done := make(chan error, 1)
	go func() { done <- e.s.Shutdown(context.Background()) }()
	code, msgs := cl.closeStatus()
	if code != websocket.StatusGoingAway || len(msgs) != 1 || msgs[0]["event"] != "disconnected" ||
		!strings.HasPrefix(fmt.Sprint(msgs[0]["message"]), "ServiceShutdown") {
		t.Fatalf("close %v after %v", code, msgs)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, resp, err := e.dial("chat", e.token("chat", "late"), "", ""); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v", err)
	}
}

func TestUserGroupsAndListPaging(t *testing.T) {
	e := newEnv(t, Config{})
	if code, _, _ := e.rest("PUT", "/api/hubs/chat/users/u1/groups/team", "", nil); code != 200 {
		t.Fatalf("AddUserToGroup: %d", code)
	}
	// A connection made later joins the user's groups.
	var ids []string
	for range 5 {
		ids = append(ids, e.connect("chat", "u1", SubprotocolJSON).id)
	}
	if code, _, _ := e.rest("HEAD", "/api/hubs/chat/groups/team", "", nil); code != 200 {
		t.Fatalf("GroupExists: %d", code)
	}
	// top=3 with pages of 2: two pages, three members, no third link.
	var got []string
	next := e.base + "/api/hubs/chat/groups/team/connections?api-version=2024-12-01&maxpagesize=2&top=3"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		code, _, body := e.restURL("GET", next, "", nil, sign(t, jwt.MapClaims{"aud": next, "exp": time.Now().Add(time.Minute).Unix()}, DefaultAccessKey))
		var page struct {
			Value []struct {
				ConnectionID, UserID string
			}
			NextLink string
		}
		if code != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("list: %d %s", code, body)
		}
		for _, m := range page.Value {
			if m.UserID != "u1" {
				t.Fatalf("member %+v", m)
			}
			got = append(got, m.ConnectionID)
		}
		next = page.NextLink
	}
	slices.Sort(ids)
	if fmt.Sprint(got) != fmt.Sprint(ids[:3]) {
		t.Fatalf("listed %v, want the first 3 of %v", got, ids)
	}
	if code, _, _ := e.rest("DELETE", "/api/hubs/chat/users/u1/groups/team", "", nil); code != 204 {
		t.Fatalf("RemoveUserFromGroup: %d", code)
	}
	if code, _, _ := e.rest("HEAD", "/api/hubs/chat/groups/team", "", nil); code != 404 {
		t.Fatalf("GroupExists after removal: %d", code)
	}
	late := e.connect("chat", "u1", SubprotocolJSON)
	if g := groupsOf(e, late.id); len(g) != 0 {
		t.Fatalf("a later connection joined %v after the user was removed", g)
	}
	// :generateToken mints a token the client endpoint accepts.
	code, _, body := e.rest("POST", "/api/hubs/chat/:generateToken?userId=gt&role=webpubsub.joinLeaveGroup&minutesToExpire=5", "", nil)
	var tok struct{ Token string }
	if code != 200 || json.Unmarshal(body, &tok) != nil || tok.Token == "" {
		t.Fatalf("generateToken: %d %s", code, body)
	}
	c, _, err := e.dial("chat", tok.Token, SubprotocolJSON, "")
	if err != nil {
		t.Fatalf("dial with the generated token: %v", err)
	}
	if m := newClient(t, c).read(); m["userId"] != "gt" {
		t.Fatalf("connected as %v", m)
	}
	c.CloseNow()
}

func TestKeepAlivePings(t *testing.T) {
	e := newEnv(t, Config{KeepAlive: 50 * time.Millisecond})
	var pings atomic.Int32
	c, _, err := websocket.Dial(context.Background(), e.ws+"/client/hubs/chat?access_token="+e.token("chat", "idle"), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	newClient(t, c) // reads, so pongs go back
	eventually(t, "pings to an idle client", func() bool { return pings.Load() >= 3 })
	if len(e.s.hub("chat").connections()) != 1 {
		t.Fatal("a client answering pings was dropped")
	}
}
