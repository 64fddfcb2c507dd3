package emulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// recorder is an upstream event handler built with pkg/cloudevents (which
// verifies our signatures with the key) that records what it got.
type recorder struct {
	mu            sync.Mutex
	events        []string // "connect u1", "message u1 text hello", ...
	connect       *cloudevents.ConnectRequest
	states        []string
	options       atomic.Int32
	failConnected atomic.Int32 // answer this many connected events with 503
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.events, s)
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func newRecorder(t *testing.T) (*recorder, *httptest.Server) {
	rec := &recorder{}
	h := &cloudevents.Handler{
		Hub:  "chat",
		Keys: cloudevents.NewKeys(DefaultAccessKey),
		Connect: func(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
			rec.mu.Lock()
			rec.connect = req
			rec.mu.Unlock()
			rec.add("connect " + req.UserID)
			if req.Query["deny"] != nil {
				return nil, cloudevents.Errorf(403, "go away")
			}
			resp := &cloudevents.ConnectResponse{UserID: "svc-" + req.UserID, Groups: []string{"g0"}, Roles: []string{"webpubsub.joinLeaveGroup"}}
			resp.SetState("count", 0)
			return resp, nil
		},
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			rec.add(fmt.Sprintf("%s %s %s %s", req.EventName, req.UserID, req.DataType, req.Data))
			var n int
			req.State().Get("count", &n)
			rec.mu.Lock()
			rec.states = append(rec.states, fmt.Sprint(n))
			rec.mu.Unlock()
			if req.EventName == "fail" {
				return nil, cloudevents.Errorf(500, "broken")
			}
			resp := &cloudevents.UserEventResponse{Data: append([]byte("echo:"), req.Data...), DataType: cloudevents.DataText}
			resp.SetState("count", n+1)
			return resp, nil
		},
		Connected: func(ctx context.Context, req *cloudevents.ConnectedRequest) error {
			if rec.failConnected.Add(-1) >= 0 {
				rec.add("connected-refused")
				return cloudevents.Errorf(500, "not yet")
			}
			rec.add("connected " + req.UserID + " " + req.Subprotocol)
			return nil
		},
		Disconnected: func(ctx context.Context, req *cloudevents.DisconnectedRequest) error {
			var n int
			req.State().Get("count", &n)
			rec.add(fmt.Sprintf("disconnected %s state=%d", req.UserID, n))
			return nil
		},
		GroupJoined: func(ctx context.Context, req *cloudevents.GroupEventRequest) error {
			rec.add("joined " + req.Group)
			return nil
		},
		GroupLeft: func(ctx context.Context, req *cloudevents.GroupEventRequest) error {
			rec.add("left " + req.Group)
			return nil
		},
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			rec.options.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func TestUpstreamEvents(t *testing.T) {
	rec, up := newRecorder(t)
	rec.failConnected.Store(1) // the first connected attempt fails: retried
	e := newEnv(t, Config{Hubs: map[string]HubSettings{"chat": {EventHandlers: []EventHandler{{
		URLTemplate: up.URL + "/upstream/{hub}/{event}", UserEvents: "*",
		SystemEvents: []string{"connect", "connected", "disconnected"}, GroupEvents: true,
	}}}}})

	c, _, err := e.dial("chat", e.token("chat", "u1"), SubprotocolJSON, "foo=bar&foo=baz")
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c)
	m := cl.read()
	if m["event"] != "connected" || m["userId"] != "svc-u1" {
		t.Fatalf("connected = %v, want the connect handler's userId", m)
	}
	rec.mu.Lock()
	req := rec.connect
	rec.mu.Unlock()
	if fmt.Sprint(req.Query["foo"]) != "[bar baz]" || req.Query["access_token"] != nil ||
		fmt.Sprint(req.Subprotocols) != "["+SubprotocolJSON+"]" || fmt.Sprint(req.Claims["sub"]) != "[u1]" ||
		len(req.Headers["Sec-Websocket-Key"]) != 1 {
		t.Fatalf("connect request: query %v subprotocols %v claims %v headers %v", req.Query, req.Subprotocols, req.Claims, req.Headers)
	}
	if n := rec.options.Load(); n != 1 {
		t.Fatalf("%d validation requests, want 1 before first use", n)
	}
	// Initial group from the connect response, and its presence event.
	if g := e.s.Snapshot().Hubs[0].Groups["g0"]; len(g) != 1 {
		t.Fatalf("groups = %v", e.s.Snapshot().Hubs[0].Groups)
	}

	// User events: the reply comes back, the state travels.
	for i := 1; i <= 2; i++ {
		cl.send(map[string]any{"type": "event", "event": "chat", "ackId": i, "dataType": "text", "data": fmt.Sprint("hello", i)})
		if m := cl.read(); m["from"] != "server" || m["dataType"] != "text" || m["data"] != fmt.Sprint("echo:hello", i) {
			t.Fatalf("reply = %v", m)
		}
		wantAck(t, cl.read(), float64(i), "")
	}
	cl.send(map[string]any{"type": "event", "event": "fail", "ackId": 3, "data": map[string]int{"a": 1}})
	wantAck(t, cl.read(), 3, "InvocationFailed")
	// invoke gets a correlated answer.
	cl.send(map[string]any{"type": "invoke", "invocationId": "inv1", "target": "event", "event": "chat", "dataType": "text", "data": "q"})
	if m := cl.read(); m["type"] != "invokeResponse" || m["invocationId"] != "inv1" || m["success"] != true || m["data"] != "echo:q" {
		t.Fatalf("invokeResponse = %v", m)
	}
	cl.send(map[string]any{"type": "joinGroup", "group": "g1", "ackId": 4})
	wantAck(t, cl.read(), 4, "")
	cl.send(map[string]any{"type": "leaveGroup", "group": "g1", "ackId": 5})
	wantAck(t, cl.read(), 5, "")
	c.Close(websocket.StatusNormalClosure, "")

	want := []string{
		"connect u1", "connected-refused", "connected svc-u1 " + SubprotocolJSON, "joined g0",
		"chat svc-u1 text hello1", "chat svc-u1 text hello2", `fail svc-u1 json {"a":1}`, "chat svc-u1 text q",
		"joined g1", "left g1", "disconnected svc-u1 state=3",
	}
	eventually(t, "all events", func() bool { return len(rec.snapshot()) >= len(want) })
	got := rec.snapshot()
	// Notifications run in order per connection; blocking events interleave with them.
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Fatalf("events %q lack %q", got, w)
		}
	}
	if idx := func(s string) int { return slices.Index(got, s) }; idx("connected-refused") > idx("connected svc-u1 "+SubprotocolJSON) ||
		idx("joined g1") > idx("left g1") || idx("left g1") > idx("disconnected svc-u1 state=3") {
		t.Fatalf("notifications out of order: %q", got)
	}
	rec.mu.Lock()
	states := slices.Clone(rec.states)
	rec.mu.Unlock()
	if fmt.Sprint(states) != "[0 1 2 2]" { // a refused event keeps the state
		t.Fatalf("states seen by the handler = %v, want [0 1 2 2]", states)
	}
	if ups := e.traceKinds(TraceUpstream); len(ups) < 8 || ups[0].Latency <= 0 {
		t.Fatalf("upstream traces: %+v", ups)
	}

	// A refused connect passes its status and message through.
	_, resp, err := e.dial("chat", e.token("chat", "u2"), SubprotocolJSON, "deny=1")
	if err == nil {
		t.Fatal("denied connect succeeded")
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "go away") {
		t.Fatalf("denied connect: %d %q", resp.StatusCode, body)
	}

	// A plain WebSocket client's frames are the "message" event; the reply is a raw frame.
	raw, _, err := e.dial("chat", e.token("chat", "u3"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	rc := newClient(t, raw)
	rc.sendRaw(websocket.MessageText, []byte("ping!"))
	if typ, b := rc.readRaw(); typ != websocket.MessageText || string(b) != "echo:ping!" {
		t.Fatalf("raw reply %v %q", typ, b)
	}
	if !rec.has("message svc-u3 text ping!") {
		t.Fatalf("events %q", rec.snapshot())
	}
	raw.CloseNow()
}

func TestUpstreamValidationFails(t *testing.T) {
	var posts atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusBadRequest) // no WebHook-Allowed-Origin
	}))
	defer up.Close()
	e := newEnv(t, Config{Hubs: map[string]HubSettings{"chat": {EventHandlers: []EventHandler{{
		URLTemplate: up.URL + "/{event}", UserEvents: "*", SystemEvents: []string{"connect"},
	}}}}})
	_, resp, err := e.dial("chat", e.token("chat", "u"), "", "")
	if err == nil || resp.StatusCode != 500 {
		t.Fatalf("connect through an unvalidated handler: %v", err)
	}
	if posts.Load() != 0 {
		t.Fatal("events were posted to a handler that failed validation")
	}
	ups := e.traceKinds(TraceUpstream)
	if len(ups) != 1 || !strings.HasPrefix(ups[0].Summary, "validate") || ups[0].Status != 400 {
		t.Fatalf("upstream traces = %+v", ups)
	}
}

func TestSetHubAndTimeout(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("WebHook-Allowed-Origin", "*")
			return
		}
		io.Copy(io.Discard, r.Body) // then the server notices the caller giving up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	e := newEnv(t, Config{UpstreamTimeout: 200 * time.Millisecond})
	e.s.SetHub("chat", HubSettings{EventHandlers: []EventHandler{{URLTemplate: slow.URL + "/{event}", UserEvents: "slow"}}})
	cl := e.connect("chat", "u", SubprotocolJSON)
	start := time.Now()
	cl.send(map[string]any{"type": "event", "event": "slow", "ackId": 1, "data": 1})
	wantAck(t, cl.read(), 1, "InvocationFailed")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("blocking event took %v, want about the 200ms timeout", d)
	}
	// Events the pattern does not name have no handler.
	cl.send(map[string]any{"type": "event", "event": "other", "ackId": 2, "data": 1})
	if m := cl.read(); errName(m) != "InvocationFailed" || !strings.Contains(fmt.Sprint(m["error"]), "No event handler") {
		t.Fatalf("ack = %v", m)
	}
}

// replyEnv is an emulator whose hub chat has a user-event handler answering
// contentType: good to the event named "good", bad to any other.
func replyEnv(t *testing.T, contentType, good, bad string) *testEnv {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("WebHook-Allowed-Origin", "*")
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		if r.Header.Get("ce-eventName") == "good" {
			io.WriteString(w, good)
			return
		}
		io.WriteString(w, bad)
	}))
	t.Cleanup(up.Close) // after the emulator's shutdown, registered later
	e := newEnv(t, Config{})
	e.s.SetHub("chat", HubSettings{EventHandlers: []EventHandler{{URLTemplate: up.URL + "/{event}", UserEvents: "*"}}})
	return e
}

// A handler that labels a reply application/json must send valid JSON: the
// reply is embedded as is in the client's frame, so anything else fails the
// invocation rather than corrupting the frame.
func TestUserEventReplyInvalidJSON(t *testing.T) {
	e := replyEnv(t, "application/json", `{"ok":true}`, `{"ok":tru`)
	cl := e.connect("chat", "u", SubprotocolJSON)
	cl.send(map[string]any{"type": "event", "event": "bad", "ackId": 1, "data": 1})
	if m := cl.read(); errName(m) != "InvocationFailed" || !strings.Contains(fmt.Sprint(m["error"]), "not valid JSON") {
		t.Fatalf("ack for an invalid JSON reply = %v", m)
	}
	cl.send(map[string]any{"type": "event", "event": "good", "ackId": 2, "data": 1})
	reply := cl.read()
	if reply["type"] != "message" || reply["dataType"] != "json" || fmt.Sprint(reply["data"]) != "map[ok:true]" {
		t.Fatalf("reply to a valid JSON answer = %v", reply)
	}
	wantAck(t, cl.read(), 2, "")
}

// A handler that labels a reply text must send UTF-8: a JSON client's frame
// would carry invalid JSON and a plain client's text frame break RFC 6455,
// so both fail the invocation instead (the plain client, which has no ack,
// by a 1011 close that says why).
func TestUserEventReplyInvalidText(t *testing.T) {
	e := replyEnv(t, "text/plain; charset=utf-8", "h\u00e9llo", "h\xe9llo")
	cl := e.connect("chat", "u", SubprotocolJSON)
	cl.send(map[string]any{"type": "event", "event": "bad", "ackId": 1, "data": 1})
	if m := cl.read(); errName(m) != "InvocationFailed" || !strings.Contains(fmt.Sprint(m["error"]), "not valid UTF-8") {
		t.Fatalf("ack for a text reply that is not UTF-8 = %v", m)
	}
	cl.send(map[string]any{"type": "event", "event": "good", "ackId": 2, "data": 1})
	if m := cl.read(); m["type"] != "message" || m["dataType"] != "text" || m["data"] != "h\u00e9llo" {
		t.Fatalf("reply to a UTF-8 answer = %v", m)
	}
	wantAck(t, cl.read(), 2, "")

	plain := e.connect("chat", "p", "")
	plain.sendRaw(websocket.MessageText, []byte("hi"))
	code, _ := plain.closeStatus()
	if code != websocket.StatusInternalError || !strings.Contains(fmt.Sprint(plain.err), "InvocationFailed: The event handler answered text that is not valid UTF-8.") {
		t.Fatalf("plain client closed with %v (%v), want 1011 for a reply that is not UTF-8", code, plain.err)
	}
}

// A client that joins and leaves over and over behind a slow group-event
// handler cannot queue notifications without bound; connected and
// disconnected still reach the handler.
func TestGroupEventsBoundedBehindSlowHandler(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var events []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("WebHook-Allowed-Origin", "*")
			return
		}
		io.Copy(io.Discard, r.Body)
		ev := r.Header.Get("ce-eventName")
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		if ev == "joined" || ev == "left" {
			<-release
		}
	}))
	t.Cleanup(up.Close) // after the emulator's shutdown, which delivers what is queued
	defer close(release)
	e := newEnv(t, Config{UpstreamTimeout: 5 * time.Second})
	e.s.SetHub("chat", HubSettings{EventHandlers: []EventHandler{{
		URLTemplate: up.URL + "/{event}", SystemEvents: []string{"connected", "disconnected"}, GroupEvents: true,
	}}})
	cl := e.connect("chat", "u", SubprotocolJSON, "webpubsub.joinLeaveGroup")
	n := 2 * maxPendingGroupEvents
	for i := 1; i <= n; i++ {
		typ := "joinGroup"
		if i%2 == 0 {
			typ = "leaveGroup"
		}
		cl.send(map[string]any{"type": typ, "group": "g", "ackId": i})
		wantAck(t, cl.read(), float64(i), "")
	}
	c := e.s.hub("chat").conn(cl.id)
	if c == nil {
		t.Fatal("connection not found")
	}
	if p := c.async.pending(); p > maxPendingGroupEvents {
		t.Fatalf("%d notifications pending after %d joins and leaves, want at most %d", p, n, maxPendingGroupEvents)
	}
	release <- struct{}{} // let the first group event finish: later ones go on waiting
	mu.Lock()
	got := slices.Clone(events)
	mu.Unlock()
	if len(got) == 0 || got[0] != "connected" {
		t.Fatalf("events = %v, want connected first", got)
	}
}
