package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// subprotocol is the client protocol every test client speaks.
const subprotocol = "json.webpubsub.azure.v1"

// frameTimeout bounds every wait for a frame that must arrive. Absence is
// proved with a sentinel message instead of a long wait.
const frameTimeout = 5 * time.Second

// env is one emulator served on loopback and a wps.Client for one hub of it.
type env struct {
	t    *testing.T
	emu  *emulator.Server
	srv  *httptest.Server
	cs   string // connection string
	hub  string
	wps  *wps.Client
	seq  atomic.Int64 // sentinel numbering
	base string
}

// newEnv starts a fresh emulator for t; every test gets its own, so tests
// can run in parallel without seeing each other's connections.
func newEnv(t *testing.T) *env { return newEnvConfig(t, emulator.Config{}) }

// newEnvConfig is newEnv with an emulator configuration.
func newEnvConfig(t *testing.T, cfg emulator.Config) *env {
	t.Helper()
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	srv := httptest.NewServer(emu.Handler())
	e := &env{t: t, emu: emu, srv: srv, hub: "e2e", base: srv.URL}
	e.cs = emu.ConnectionString(srv.URL)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := emu.Shutdown(ctx); err != nil {
			t.Errorf("emulator Shutdown: %v", err)
		}
		srv.Close()
	})
	e.wps = e.client(e.hub)
	return e
}

// client returns a key-authenticated wps.Client for hub, without retries so
// that a failure shows at once.
func (e *env) client(hub string) *wps.Client {
	e.t.Helper()
	c, err := wps.NewClientFromConnectionString(e.cs, hub, &wps.ClientOptions{Retry: wps.RetryOptions{MaxRetries: -1}})
	if err != nil {
		e.t.Fatalf("NewClientFromConnectionString: %v", err)
	}
	return c
}

// ctx is a context bounded like every other wait of the suite.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	e.t.Cleanup(cancel)
	return ctx
}

// must fails the test on err, naming the operation.
func (e *env) must(op string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", op, err)
	}
}

// frame is one WebSocket message a test client received.
type frame struct {
	typ  websocket.MessageType
	data []byte
}

// tclient is a WebSocket test client of the json.webpubsub.azure.v1
// subprotocol. A goroutine reads frames into a channel, because an expired
// read context would close a coder/websocket connection.
type tclient struct {
	t      *testing.T
	e      *env
	name   string
	conn   *websocket.Conn
	id     string // connection id from the connected message
	user   string
	frames chan frame
	done   chan struct{} // closed when the socket is gone
	err    error         // why the read loop ended; set before done closes
	ackID  int
	held   []map[string]any // frames read while looking for an ack, in order
}

// connect gets a client access URL for opts from the env's wps.Client,
// dials it and reads the connected system message.
func (e *env) connect(name string, opts wps.ClientAccessOptions) *tclient {
	e.t.Helper()
	ca, err := e.wps.ClientAccessURL(e.ctx(), &opts)
	e.must("ClientAccessURL", err)
	return e.dialURL(name, ca.URL)
}

// dialURL dials url and reads the connected system message.
func (e *env) dialURL(name, url string) *tclient {
	e.t.Helper()
	conn, resp, err := e.dial(url)
	if err != nil {
		e.t.Fatalf("%s: dial: %v (status %s)", name, err, status(resp))
	}
	conn.SetReadLimit(4 << 20) // above the service's 1 MB message limit
	c := &tclient{t: e.t, e: e, name: name, conn: conn, frames: make(chan frame, 256), done: make(chan struct{})}
	go c.readLoop()
	e.t.Cleanup(func() { conn.CloseNow() })
	m := c.next()
	if m["type"] != "system" || m["event"] != "connected" {
		e.t.Fatalf("%s: first frame %v, want the connected system message", name, m)
	}
	for k := range m {
		if k != "type" && k != "event" && k != "connectionId" && k != "userId" {
			e.t.Errorf("%s: connected message has unexpected field %q: %s", name, k, js(m))
		}
	}
	c.id, _ = m["connectionId"].(string)
	c.user, _ = m["userId"].(string)
	if c.id == "" {
		e.t.Fatalf("%s: connected message without connectionId: %v", name, m)
	}
	return c
}

func (e *env) dial(url string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{subprotocol}})
}

func status(resp *http.Response) string {
	if resp == nil {
		return "none"
	}
	return resp.Status
}

func (c *tclient) readLoop() {
	defer close(c.done)
	for {
		typ, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		c.frames <- frame{typ, b}
	}
}

// nextFrame returns the next frame, failing the test if none comes in time
// or the socket closes first.
func (c *tclient) nextFrame() frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(frameTimeout):
		c.t.Fatalf("%s: no frame within %v", c.name, frameTimeout)
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("%s: socket closed while waiting for a frame: %v", c.name, c.err)
	}
	return frame{}
}

// next returns the next frame decoded as a JSON object.
func (c *tclient) next() map[string]any {
	c.t.Helper()
	if len(c.held) > 0 {
		m := c.held[0]
		c.held = c.held[1:]
		return m
	}
	f := c.nextFrame()
	if f.typ != websocket.MessageText {
		c.t.Fatalf("%s: got a binary frame, want text JSON", c.name)
	}
	var m map[string]any
	if err := json.Unmarshal(f.data, &m); err != nil {
		c.t.Fatalf("%s: frame %q is not a JSON object: %v", c.name, f.data, err)
	}
	return m
}

// expect reads the next frame and compares it, key for key, with want
// (given as JSON text so that number and nesting types match decoding).
func (c *tclient) expect(want string) {
	c.t.Helper()
	got := c.next()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		c.t.Fatalf("bad want %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, w) {
		c.t.Errorf("%s: got frame\n\t%s\nwant\n\t%s", c.name, js(got), js(w))
	}
}

// expectNone proves that nothing is waiting for c: it sends c a unique
// sentinel with SendToConnection and checks that the sentinel is the very
// next frame. Messages to one connection keep their order, so anything
// delivered before the sentinel would show up first.
func (c *tclient) expectNone() {
	c.t.Helper()
	s := fmt.Sprintf("sentinel-%d", c.e.seq.Add(1))
	c.e.must("SendToConnection(sentinel)", c.e.wps.SendToConnection(c.e.ctx(), c.id, wps.Text(s), nil))
	got := c.next()
	if got["type"] == "message" && got["from"] == "server" && got["data"] == s {
		return
	}
	c.t.Errorf("%s: expected nothing, got %s", c.name, js(got))
	// Drain up to the sentinel so later expectations stay aligned.
	for i := 0; i < 20; i++ {
		if m := c.next(); m["data"] == s {
			return
		}
	}
}

// send writes a client frame.
func (c *tclient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// request sends a client frame with a fresh ackId and returns the ack.
// Frames that arrive before the ack (the service does not order an ack
// against, say, the echo of a published message) are held for next.
func (c *tclient) request(m map[string]any) map[string]any {
	c.t.Helper()
	c.ackID++
	m["ackId"] = c.ackID
	c.send(m)
	var before []map[string]any
	held := c.held
	c.held = nil
	defer func() { c.held = append(append(held, before...), c.held...) }()
	for range 10 {
		f := c.next()
		if f["type"] == "ack" && f["ackId"] == float64(c.ackID) {
			return f
		}
		before = append(before, f)
	}
	c.t.Fatalf("%s: no ack for %d; got %s", c.name, c.ackID, js(before))
	return nil
}

// expectAckOK checks that the request m succeeds.
func (c *tclient) expectAckOK(m map[string]any) {
	c.t.Helper()
	if ack := c.request(m); ack["success"] != true {
		c.t.Errorf("%s: %v: ack %s, want success", c.name, m, js(ack))
	}
}

// expectAckError checks that the request m fails with error name.
func (c *tclient) expectAckError(m map[string]any, name string) {
	c.t.Helper()
	ack := c.request(m)
	e, _ := ack["error"].(map[string]any)
	if ack["success"] != false || e == nil || e["name"] != name {
		c.t.Errorf("%s: %v: ack %s, want success false with error %s", c.name, m, js(ack), name)
	}
}

// expectClosed waits for the socket to close after a disconnected system
// message carrying reason (if reason is not empty).
func (c *tclient) expectClosed(reason string) {
	c.t.Helper()
	m := c.next()
	if m["type"] != "system" || m["event"] != "disconnected" {
		c.t.Errorf("%s: got %s, want the disconnected system message", c.name, js(m))
	} else if reason != "" && m["message"] != reason {
		c.t.Errorf("%s: disconnected message %q, want %q", c.name, m["message"], reason)
	}
	select {
	case <-c.done:
	case <-time.After(frameTimeout):
		c.t.Fatalf("%s: socket still open %v after the disconnected message", c.name, frameTimeout)
	}
	select {
	case f := <-c.frames:
		c.t.Errorf("%s: frame after the disconnected message: %q", c.name, f.data)
	default:
	}
	var ce websocket.CloseError
	if !errors.As(c.err, &ce) {
		c.t.Errorf("%s: socket ended without a close frame: %v", c.name, c.err)
	}
}

// members lists group through ListConnectionsInGroup with opts and returns
// the connection ids and user ids, in the order given.
func (e *env) members(group string, opts *wps.ListOptions) (ids []string, users map[string]string) {
	e.t.Helper()
	users = map[string]string{}
	for m, err := range e.wps.ListConnectionsInGroup(e.ctx(), group, opts) {
		if err != nil {
			e.t.Fatalf("ListConnectionsInGroup(%q): %v", group, err)
		}
		ids = append(ids, m.ConnectionID)
		users[m.ConnectionID] = m.UserID
	}
	return ids, users
}

// snapshotGroups returns the emulator's view of which connections are in
// which group of the env's hub.
func (e *env) snapshotGroups() map[string][]string {
	for _, h := range e.emu.Snapshot().Hubs {
		if strings.EqualFold(h.Name, e.hub) {
			return h.Groups
		}
	}
	return nil
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ids returns the connection ids of cs.
func ids(cs ...*tclient) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.id
	}
	return out
}
