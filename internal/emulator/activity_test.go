package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// No token, key, signature or reconnection token reaches the trace: a
// reliable client's connected frame, the connect event's access_token
// query, ce-signature headers, the REST bearer token and :generateToken's
// answer are all redacted, while the frames' other content is kept.
func TestTraceRedactsSecrets(t *testing.T) {
	var upstreamSigs []string
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("WebHook-Allowed-Origin", "*")
			return
		}
		mu.Lock()
		upstreamSigs = append(upstreamSigs, r.Header.Get("ce-signature"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"userId":"alice","groups":["lobby"]}`))
	}))
	defer up.Close()
	e := newEnv(t, Config{Hubs: map[string]HubSettings{"chat": {EventHandlers: []EventHandler{
		{URLTemplate: up.URL + "/{event}", SystemEvents: []string{"connect", "connected"}},
	}}}})

	tok := e.token("chat", "alice")
	c, _, err := e.dial("chat", tok, SubprotocolJSONReliable, "")
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, c)
	m := cl.read()
	reconn, _ := m["reconnectionToken"].(string)
	if reconn == "" {
		t.Fatalf("connected = %v", m)
	}
	cl.send(map[string]any{"type": "sendToGroup", "group": "lobby", "dataType": "json", "data": map[string]string{"text": "hello there"}})
	cl.send(map[string]any{"type": "event", "event": "x", "dataType": "text", "data": "my access_token=" + tok})

	status, _, body := e.rest(http.MethodPost, "/api/hubs/chat/:generateToken?userId=bob", "", nil)
	var gen struct{ Token string }
	if json.Unmarshal(body, &gen); status != 200 || gen.Token == "" {
		t.Fatalf(":generateToken = %d %s", status, body)
	}
	if st, _, _ := e.rest(http.MethodPost, "/api/hubs/chat/:send", "text/plain", []byte("hi all")); st != 202 {
		t.Fatalf("send = %d", st)
	}
	eventually(t, "the REST calls traced", func() bool { return len(e.traceKinds(TraceREST)) >= 2 })
	eventually(t, "the frames traced", func() bool { return len(e.traceKinds(TraceFrameIn)) >= 2 })
	c.CloseNow()

	var all strings.Builder
	e.mu.Lock()
	for _, ev := range e.traces {
		fmt.Fprintf(&all, "%+v\n", ev)
	}
	e.mu.Unlock()
	mu.Lock()
	sigs := upstreamSigs
	mu.Unlock()
	if len(sigs) == 0 {
		t.Fatal("no upstream call made")
	}
	secrets := map[string]string{"reconnection token": reconn, "client token": tok, "generated token": gen.Token, "access key": DefaultAccessKey}
	for i, s := range sigs {
		for j, part := range strings.Split(s, ",") {
			secrets[fmt.Sprintf("ce-signature %d.%d", i, j)] = strings.TrimPrefix(part, "sha256=")
		}
	}
	for what, s := range secrets {
		if s != "" && strings.Contains(all.String(), s) {
			t.Errorf("the trace holds the %s", what)
		}
	}
	if strings.Contains(all.String(), "Bearer ey") {
		t.Error("the trace holds a bearer token")
	}
	for _, want := range []string{"hello there", `"reconnectionToken":"[redacted]"`, "hi all", "Authorization: [redacted]"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("the trace lacks %q", want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"json member", `{"type":"system","reconnectionToken":"abc\"def","x":1}`, `{"type":"system","reconnectionToken":"[redacted]","x":1}`},
		{"query", `/client/hubs/chat?access_token=abc&x=1`, `/client/hubs/chat?access_token=[redacted]&x=1`},
		{"resume query", `?awps_connection_id=c&awps_reconnection_token=t0k`, `?awps_connection_id=c&awps_reconnection_token=[redacted]`},
		{"jwt anywhere", `say eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl ok`, `say [redacted] ok`},
		{"signature header", `Ce-Signature: sha256=0123456789abcdef0123,sha256=fedcba9876543210fedc`, `Ce-Signature: [redacted],[redacted]`},
		{"connection string", `Endpoint=http://x;AccessKey=c2VjcmV0;Version=1.0;`, `Endpoint=http://x;AccessKey=[redacted];Version=1.0;`},
		{"query values in json", `{"query":{"access_token":["abc","def"]}}`, `{"query":{"access_token":["[redacted]"]}}`},
		{"nothing to do", `{"type":"message","data":"hello"}`, `{"type":"message","data":"hello"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact(tc.in); got != tc.want {
				t.Errorf("redact(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

// The summary of a chat frame names its type and group and shows the text
// before the rest of the data, however long the frame.
func TestFrameSummaryShowsText(t *testing.T) {
	data := `{"type":"message","from":"group","group":"lobby","dataType":"json","data":{"type":"message","id":"` + strings.Repeat("x", 300) + `","room":"lobby","from":"alice","text":"hello world"},"sequenceId":4}`
	got := frameSummary("message", websocket.MessageText, []byte(data))
	if !strings.HasPrefix(got, `message group lobby seq 4 · "hello world" · {`) || len(got) > maxTraceSummary+len("…") {
		t.Fatalf("summary = %s", got)
	}
	// A user's group message names the user; a server message says so.
	for data, want := range map[string]string{
		`{"type":"message","from":"group","fromUserId":"bob","group":"lobby","dataType":"text","data":"hi"}`: `message group lobby from bob · "hi"`,
		`{"type":"message","from":"server","dataType":"text","data":"hi"}`:                                   `message from server · "hi"`,
	} {
		if got := frameSummary("message", websocket.MessageText, []byte(data)); got != want {
			t.Errorf("summary of %s = %s, want %s", data, got, want)
		}
	}
}

// A REST call's summary shows a chat text before the rest of its body.
func TestRESTSummaryShowsText(t *testing.T) {
	b := &traceBuffer{}
	body := []byte(`{"type":"message","id":"` + strings.Repeat("x", 40) + `","room":"lobby","text":"hello world"}`)
	b.add(body)
	if got := restBodyPreview(b); !strings.HasPrefix(got, ` · "hello world" · {"type"`) {
		t.Fatalf("preview = %s", got)
	}
}

// A REST call is traced with the time it started, so ordered by Time it
// comes before the frames it fans out (it is published when it ends, after
// them).
func TestTraceRESTStartsBeforeItsFanOut(t *testing.T) {
	e := newEnv(t, Config{})
	cl := e.connect("chat", "alice", SubprotocolJSON)
	if st, _, _ := e.rest(http.MethodPost, "/api/hubs/chat/:send", "text/plain", []byte("ordered")); st != 202 {
		t.Fatalf("send = %d", st)
	}
	if m := cl.read(); m["data"] != "ordered" {
		t.Fatalf("client got %v", m)
	}
	var rest, frame *TraceEvent
	eventually(t, "the REST call and the frame traced", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i := range e.traces {
			ev := &e.traces[i]
			switch {
			case ev.Kind == TraceREST && strings.Contains(ev.Summary, "/:send"):
				rest = ev
			case ev.Kind == TraceFrameOut && strings.Contains(ev.Detail, "ordered"):
				frame = ev
			}
		}
		return rest != nil && frame != nil
	})
	if rest.Time.After(frame.Time) || rest.Latency <= 0 || rest.Summary != `POST …/:send → 202 · ordered` || !strings.Contains(rest.Detail, "POST /api/hubs/chat/:send?api-version=") {
		t.Fatalf("REST call %v (took %v, %q), its frame %v: the call must start first", rest.Time, rest.Latency, rest.Summary, frame.Time)
	}
}
