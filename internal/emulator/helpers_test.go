package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// testEnv is an emulator served on loopback.
type testEnv struct {
	t    testing.TB
	s    *Server
	srv  *httptest.Server
	base string // http://127.0.0.1:port
	ws   string // ws://127.0.0.1:port

	mu     sync.Mutex
	traces []TraceEvent
}

func newEnv(t testing.TB, cfg Config) *testEnv { return startEnv(t, cfg, false) }

// newTLSEnv serves over https/wss with httptest's certificate.
func newTLSEnv(t testing.TB, cfg Config) *testEnv { return startEnv(t, cfg, true) }

func startEnv(t testing.TB, cfg Config, tls bool) *testEnv {
	t.Helper()
	e := &testEnv{t: t}
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Trace == nil {
		cfg.Trace = func(ev TraceEvent) {
			e.mu.Lock()
			if len(e.traces) < 10000 {
				e.traces = append(e.traces, ev)
			}
			e.mu.Unlock()
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	if tls {
		e.srv = httptest.NewTLSServer(s.Handler())
	} else {
		e.srv = httptest.NewServer(s.Handler())
	}
	e.base = e.srv.URL
	e.ws = "ws" + strings.TrimPrefix(e.base, "http")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.srv.Close()
	})
	return e
}

func (e *testEnv) traceKinds(kind string) []TraceEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []TraceEvent
	for _, ev := range e.traces {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// tokenClaims builds a client token's claims for hub.
func (e *testEnv) claims(hub, user string, roles ...string) jwt.MapClaims {
	c := jwt.MapClaims{"aud": e.base + "/client/hubs/" + hub, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	if user != "" {
		c["sub"] = user
	}
	if len(roles) > 0 {
		c["role"] = roles
	}
	return c
}

func sign(t testing.TB, claims jwt.MapClaims, key string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *testEnv) token(hub, user string, roles ...string) string {
	return sign(e.t, e.claims(hub, user, roles...), DefaultAccessKey)
}

// client is a Go WebSocket test client. A goroutine reads frames into a
// channel (an expired read context would close a coder/websocket conn).
type client struct {
	t      testing.TB
	c      *websocket.Conn
	id     string
	frames chan frame
	err    error // set before frames is closed
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

func newClient(t testing.TB, c *websocket.Conn) *client {
	cl := &client{t: t, c: c, frames: make(chan frame, 4096)}
	go func() {
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				cl.err = err
				close(cl.frames)
				return
			}
			cl.frames <- frame{typ, b}
		}
	}()
	return cl
}

// dial connects to hub with token (may be empty) and subprotocol (may be
// empty), plus extra query ("a=b&c=d").
func (e *testEnv) dial(hub, token, sub, extra string) (*websocket.Conn, *http.Response, error) {
	u := e.ws + "/client/hubs/" + hub + "?"
	if token != "" {
		u += "access_token=" + token + "&"
	}
	u += extra
	opts := &websocket.DialOptions{HTTPClient: e.srv.Client()}
	if sub != "" {
		opts.Subprotocols = []string{sub}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, u, opts)
	if c != nil {
		c.SetReadLimit(4 << 20)
	}
	return c, resp, err
}

// connect dials and, for the JSON protocols, reads the connected message.
func (e *testEnv) connect(hub, user, sub string, roles ...string) *client {
	e.t.Helper()
	c, _, err := e.dial(hub, e.token(hub, user, roles...), sub, "")
	if err != nil {
		e.t.Fatalf("dial %s: %v", hub, err)
	}
	cl := newClient(e.t, c)
	e.t.Cleanup(func() { c.CloseNow() })
	if sub != "" {
		m := cl.read()
		if m["type"] != "system" || m["event"] != "connected" {
			e.t.Fatalf("first message = %v, want system connected", m)
		}
		cl.id, _ = m["connectionId"].(string)
		if user != "" && m["userId"] != user {
			e.t.Fatalf("connected userId = %v, want %s", m["userId"], user)
		}
	}
	return cl
}

func (cl *client) read() map[string]any {
	cl.t.Helper()
	typ, b := cl.readRaw()
	if typ != websocket.MessageText {
		cl.t.Fatalf("read a binary frame, want text")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		cl.t.Fatalf("read %q: %v", b, err)
	}
	return m
}

// readRaw reads one frame.
func (cl *client) readRaw() (websocket.MessageType, []byte) {
	cl.t.Helper()
	select {
	case f, ok := <-cl.frames:
		if !ok {
			cl.t.Fatalf("read: %v", cl.err)
		}
		return f.typ, f.data
	case <-time.After(patience):
		cl.t.Fatalf("read: timed out")
	}
	return 0, nil
}

// noMessage asserts that nothing arrives within d.
func (cl *client) noMessage(d time.Duration) {
	cl.t.Helper()
	select {
	case f, ok := <-cl.frames:
		if ok {
			cl.t.Fatalf("unexpected message %s", f.data)
		}
	case <-time.After(d):
	}
}

func (cl *client) send(v any) {
	cl.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.sendRaw(websocket.MessageText, b)
}

func (cl *client) sendRaw(typ websocket.MessageType, b []byte) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.c.Write(ctx, typ, b); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
}

// closeStatus reads until the connection ends and returns its close status
// and the JSON messages before it.
func (cl *client) closeStatus() (websocket.StatusCode, []map[string]any) {
	cl.t.Helper()
	var msgs []map[string]any
	timeout := time.After(patience)
	for {
		select {
		case f, ok := <-cl.frames:
			if !ok {
				return websocket.CloseStatus(cl.err), msgs
			}
			var m map[string]any
			json.Unmarshal(f.data, &m)
			msgs = append(msgs, m)
		case <-timeout:
			cl.t.Fatalf("connection did not close")
		}
	}
}

// rest calls the REST API signed like the SDKs (aud = full URL).
func (e *testEnv) rest(method, path, contentType string, body []byte) (int, http.Header, []byte) {
	e.t.Helper()
	u := e.base + path
	if !strings.Contains(path, "api-version=") {
		if strings.Contains(path, "?") {
			u += "&api-version=2024-12-01"
		} else {
			u += "?api-version=2024-12-01"
		}
	}
	return e.restURL(method, u, contentType, body, sign(e.t, jwt.MapClaims{"aud": u, "exp": time.Now().Add(time.Hour).Unix()}, DefaultAccessKey))
}

func (e *testEnv) restURL(method, u, contentType string, body []byte, token string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// patience is how long a test waits for something that should happen: long
// enough for a machine loaded many times over under -race; a passing test
// never waits it out.
const patience = 20 * time.Second

// eventually polls cond for up to patience.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectReliable dials hub chat as user with the reliable subprotocol and
// returns the client with the connectionId and reconnectionToken from its
// connected message.
func (e *testEnv) connectReliable(t *testing.T, user string, roles ...string) (cl *client, id, reconnectionToken string) {
	t.Helper()
	c, _, err := e.dial("chat", e.token("chat", user, roles...), SubprotocolJSONReliable, "")
	if err != nil {
		t.Fatal(err)
	}
	cl = newClient(t, c)
	m := cl.read()
	id, _ = m["connectionId"].(string)
	reconnectionToken, _ = m["reconnectionToken"].(string)
	if id == "" || reconnectionToken == "" {
		t.Fatalf("connected = %v, want connectionId and reconnectionToken", m)
	}
	return cl, id, reconnectionToken
}
