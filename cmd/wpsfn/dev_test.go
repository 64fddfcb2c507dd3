package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/cmd/wpsfn/internal/web"
	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/internal/nodetest"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// startDev runs the whole dev stack in-process on loopback ports and stops
// it when the test ends, checking that it shut down cleanly.
func startDev(t *testing.T, heartbeat time.Duration) *devStack {
	t.Helper()
	st, stop := launchDev(t, "127.0.0.1:0", heartbeat)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// launchDev starts the dev stack on addr; stop shuts it down and reports
// whether that was clean.
func launchDev(t *testing.T, addr string, heartbeat time.Duration) (st *devStack, stop func() error) {
	t.Helper()
	return launchDevWith(t, devOptions{Addr: addr, Heartbeat: heartbeat})
}

// launchDevWith starts the dev stack with opts (hub chat, an empty
// environment, a 2 s shutdown grace and testLogger unless opts say
// otherwise); stop shuts it down and reports whether that was clean.
func launchDevWith(t *testing.T, opts devOptions) (st *devStack, stop func() error) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Hub == "" {
		opts.Hub = "chat"
	}
	if opts.Environ == nil {
		opts.Environ = map[string]string{}
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *devStack, 1)
	done := make(chan error, 1)
	opts.Ready = func(st *devStack) { ready <- st }
	go func() { done <- runDev(ctx, opts) }()
	select {
	case st = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("runDev: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("dev stack not ready within 20s")
	}
	return st, sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("runDev returned %v after shutdown", err)
			}
			return nil
		case <-time.After(20 * time.Second):
			return errors.New("dev stack did not shut down within 20s")
		}
	})
}

// testLogger sends log lines to t.Log (shown with -v or on failure) until
// the test ends; lines from goroutines that outlive it are dropped.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// wsClient is a reliable-JSON-subprotocol test client.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan map[string]any
}

const reliable = "json.reliable.webpubsub.azure.v1"

// negotiate asks the negotiate function (through the pages' same-origin
// proxy) for alice's client access URL, as the chat page does.
func negotiateURL(t *testing.T, st *devStack, user string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, st.BaseURL+"/negotiate?userId="+url.QueryEscape(user), nil)
	if st.Keyless { // no query user: sign in through the emulator's tenant
		req.URL.RawQuery = ""
		req.Header.Set("Authorization", "Bearer "+devSignIn(t, st, user))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ URL, BaseURL, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("negotiate: %d %v", resp.StatusCode, err)
	}
	if !strings.HasPrefix(body.URL, "ws"+strings.TrimPrefix(st.BaseURL, "http")+"/client/hubs/chat") || body.Token == "" {
		t.Fatalf("negotiate answered url %q token %t", body.URL, body.Token != "")
	}
	return body.URL
}

func dial(t *testing.T, st *devStack, user string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, negotiateURL(t, st, user), &websocket.DialOptions{Subprotocols: []string{reliable}})
	if err != nil {
		t.Fatalf("dial as %s: %v", user, err)
	}
	if conn.Subprotocol() != reliable {
		t.Fatalf("subprotocol %q, want %q (status %d)", conn.Subprotocol(), reliable, resp.StatusCode)
	}
	c := &wsClient{t: t, conn: conn, msgs: make(chan map[string]any, 256)}
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expect returns the first message matching pred within 10 s; messages that
// do not match (heartbeats, greetings) are skipped.
func (c *wsClient) expect(what string, pred func(map[string]any) bool) map[string]any {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %s", what)
			}
			if pred(m) {
				return m
			}
		case <-timeout:
			c.t.Fatalf("no %s within 10s", what)
		}
	}
}

func data(m map[string]any) map[string]any {
	d, _ := m["data"].(map[string]any)
	return d
}

func isAck(id float64) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == "ack" && m["ackId"] == id }
}

func TestDevChatEndToEnd(t *testing.T) {
	t.Parallel()
	st := startDev(t, 200*time.Millisecond)

	// One port serves the pages, the negotiate proxy and the emulator.
	for _, tc := range []struct {
		path     string
		status   int
		contains string
	}{
		{"/", 200, "/static/chat.js"},
		{"/trace", 200, "/static/trace.js"},
		{"/config.json", 200, `"negotiateUrl":"/negotiate"`},
		{"/negotiate", 400, "userId query parameter is required"}, // the negotiate function's own answer
		{"/api/health", 200, ""},
		{"/client/hubs/chat", 401, ""}, // the emulator: no token
	} {
		resp, err := http.Get(st.BaseURL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.contains) {
			t.Errorf("GET %s: %d %.80q; want %d with %q", tc.path, resp.StatusCode, b, tc.status, tc.contains)
		}
	}

	// The trace stream, open before anyone connects.
	req, _ := http.NewRequest(http.MethodGet, st.BaseURL+"/trace/events", nil)
	ctx, cancelTrace := context.WithCancel(context.Background())
	defer cancelTrace()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("trace stream: %v", err)
	}
	defer resp.Body.Close()
	batches := make(chan web.Batch, 1024)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 8<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok && event == "batch" {
				var b web.Batch
				if json.Unmarshal([]byte(v), &b) == nil {
					batches <- b
				}
			}
		}
		close(batches)
	}()
	waitSubs(t, st.Trace)

	alice := dial(t, st, "alice")
	bob := dial(t, st, "bob")
	for _, c := range []struct {
		name string
		c    *wsClient
	}{{"alice", alice}, {"bob", bob}} {
		conn := c.c.expect("connected", func(m map[string]any) bool { return m["type"] == "system" && m["event"] == "connected" })
		if conn["userId"] != c.name || conn["reconnectionToken"] == nil || conn["connectionId"] == nil {
			t.Errorf("%s connected = %v", c.name, conn)
		}
		// The connect function greets on connected, through the REST API.
		greet := c.c.expect("welcome", func(m map[string]any) bool { return data(m)["type"] == "system" })
		if data(greet)["text"] != "welcome "+c.name || greet["from"] != "server" {
			t.Errorf("%s greeting = %v", c.name, greet)
		}
		c.c.send(map[string]any{"type": "joinGroup", "group": "lobby", "ackId": 1})
		if ack := c.c.expect("join ack", isAck(1)); ack["success"] != true {
			t.Fatalf("%s join: %v", c.name, ack)
		}
	}

	// The heartbeat (the scheduled broadcast through pkg/faas's local mode).
	hb := alice.expect("heartbeat", func(m map[string]any) bool { return data(m)["type"] == "heartbeat" })
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(data(hb)["time"])); err != nil {
		t.Errorf("heartbeat time: %v (%v)", err, hb)
	}

	alice.send(map[string]any{"type": "event", "event": "message", "dataType": "json", "ackId": 2,
		"data": map[string]any{"room": "lobby", "text": "hello bob"}})
	got := bob.expect("alice's message", func(m map[string]any) bool { return data(m)["type"] == "message" })
	d := data(got)
	if d["room"] != "lobby" || d["from"] != "alice" || d["text"] != "hello bob" {
		t.Errorf("bob received %v", got)
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(d["time"])); err != nil {
		t.Errorf("message time %v: %v", d["time"], err)
	}
	if seq, ok := got["sequenceId"].(float64); !ok || seq < 1 {
		t.Errorf("reliable message without a sequenceId: %v", got)
	}
	// The sender gets the function's answer ({"ok":true,"id":...}) and the ack.
	reply := alice.expect("message reply", func(m map[string]any) bool { return data(m)["ok"] != nil })
	if data(reply)["ok"] != true || data(reply)["id"] == nil {
		t.Errorf("alice's reply = %v", reply)
	}
	alice.expect("event ack", isAck(2))

	// The broadcast function, called as an application would.
	body := `{"to":"group","id":"lobby","text":"announcement"}`
	for _, tc := range []struct {
		auth string
		want int
	}{{"Bearer wrong-secret-wrong-secret", 401}, {"Bearer " + st.BroadcastSecret, 200}} {
		req, _ := http.NewRequest(http.MethodPost, st.Functions["broadcast"]+"/api/broadcast", strings.NewReader(body))
		req.Header.Set("Authorization", tc.auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != tc.want/100 {
			t.Errorf("broadcast with %q: status %d, want %d", tc.auth[:12], resp.StatusCode, tc.want)
		}
	}
	for _, c := range []*wsClient{alice, bob} {
		m := c.expect("announcement", func(m map[string]any) bool { return m["data"] == "announcement" })
		if m["dataType"] != "text" {
			t.Errorf("announcement = %v", m)
		}
	}

	// bob leaves: the connect function announces it to his groups.
	bob.conn.Close(websocket.StatusNormalClosure, "bye")
	left := alice.expect("left", func(m map[string]any) bool { return data(m)["event"] == "left" })
	if data(left)["user"] != "bob" {
		t.Errorf("left = %v", left)
	}

	// The trace stream carried the frames, the upstream calls with their
	// answers and latencies, the REST calls and the group joins.
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !(seen["frame-in"] && seen["frame-out"] && seen["upstream-ok"] && seen["rest"] && seen["group-join"] && seen["connected"]) {
		select {
		case b := <-batches:
			for _, e := range b.Events {
				seen[e.K] = true
				if e.K == "upstream" && e.St == 200 && e.L > 0 {
					seen["upstream-ok"] = true
				}
			}
		case <-deadline:
			t.Fatalf("trace stream lacks some kinds; saw %v", seen)
		}
	}
}

// waitSubs waits until the trace stream is registered: Publish drops events
// while nobody watches.
func waitSubs(t *testing.T, tr *web.Trace) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for tr.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("trace stream not registered within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDevShutdownTellsClients checks Ctrl-C: clients get the disconnected
// system message before their socket closes.
func TestDevShutdownTellsClients(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *devStack, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, devOptions{Addr: "127.0.0.1:0", Environ: map[string]string{}, Logger: testLogger(t), ShutdownTimeout: 2 * time.Second,
			Ready: func(st *devStack) { ready <- st }})
	}()
	st := <-ready
	c := dial(t, st, "carol")
	c.expect("connected", func(m map[string]any) bool { return m["event"] == "connected" })
	cancel()
	c.expect("disconnected", func(m map[string]any) bool { return m["type"] == "system" && m["event"] == "disconnected" })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runDev: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no shutdown within 20s")
	}
	if _, err := http.Get(st.BaseURL + "/"); err == nil {
		t.Error("the pages still answer after shutdown")
	}
}

func TestDevCommandFlags(t *testing.T) {
	defer slog.SetDefault(slog.Default()) // runDevCommand sets it
	for _, args := range [][]string{
		{"--port-base", "-1"},
		{"--heartbeat", "1ms"},
		{"--log-level", "loud"},
		{"extra"},
		{"--addr", "256.0.0.1:99999"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"dev"}, args...), &out, &errb)
		if code == 0 || !strings.HasPrefix(errb.String(), "wpsfn dev: ") || strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
			t.Errorf("dev %v: exit %d, stderr %q; want one line and a failure", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"dev", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "--heartbeat") && !strings.Contains(errb.String(), "-heartbeat") {
		t.Errorf("dev -h: exit %d, %q", code, errb.String())
	}
}

func TestFunctionEnvironKeepsOnlyFunctionSettings(t *testing.T) {
	got := functionEnviron([]string{
		"WEBPUBSUB_CONNECTION_STRING=Endpoint=https://real.example;AccessKey=secret;",
		"WEBPUBSUB_HUB=prod", "CONNECT_ROLES=webpubsub.sendToGroup", "MESSAGE_MAX_BYTES=10", "HOME=/root", "BROKEN",
	})
	want := map[string]string{"CONNECT_ROLES": "webpubsub.sendToGroup", "MESSAGE_MAX_BYTES": "10"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("functionEnviron = %v, want %v", got, want)
	}
}

// postRelay queues one envelope for the relay as `curl -d ... <relay URL>/`
// does, and wants it done.
func postRelay(ctx context.Context, url, envelope string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/", strings.NewReader(envelope))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("relay answered %d %s", resp.StatusCode, b)
	}
	return nil
}

// TestBrowserChat runs the demo in headless Chromium (test/browser-chat.js)
// through what a user meets (see the script's comment): join and leave
// notices, wrapping, refusals, messages from the REST API, recovery, a
// reload, an outage of the emulator, and a trace page opened late. It needs
// /usr/bin/chromium; under CI=true its absence is a failure. The
// screenshots (test/out/chat.png, trace.png) are those in docs/screenshots.
func TestBrowserChat(t *testing.T) {
	requireChromium(t)
	bin, err := faastest.Build("./cmd/wpsfn")
	if err != nil {
		t.Fatal(err)
	}
	st, stop := launchDev(t, "127.0.0.1:0", 0)
	addr := strings.TrimPrefix(st.BaseURL, "http://")
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/drop": // sever a user's socket as a network failure would
			user := r.URL.Query().Get("user")
			for _, h := range st.Emulator.Snapshot().Hubs {
				for _, c := range h.Connections {
					if c.UserID == user && st.Emulator.DropSocket(c.ID) {
						return
					}
				}
			}
			http.Error(w, "no connection of "+user, http.StatusNotFound)
		case "/stop":
			if err := stop(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		case "/start": // on the same address, as a restarted `wpsfn dev`
			st, stop = launchDev(t, addr, 0)
		case "/send": // the README's `wpsfn send` commands, and a chat message without a time
			for _, args := range [][]string{
				{"send", "--to", "group:lobby", "--json", `{"text":"hello"}`},
				{"send", "--to", "all", "--text", "maintenance at 10:00"},
				{"send", "--to", "group:lobby", "--json", `{"type":"message","room":"lobby","from":"cli","text":"no time"}`},
			} {
				cmd := exec.CommandContext(r.Context(), bin, args...)
				cmd.Env = append(os.Environ(), "WEBPUBSUB_CONNECTION_STRING="+st.ConnectionString, "WEBPUBSUB_HUB=chat")
				if out, err := cmd.CombinedOutput(); err != nil {
					http.Error(w, fmt.Sprintf("wpsfn %q: %v: %s", args, err, out), http.StatusInternalServerError)
					return
				}
			}
			// The README's queued event, through the relay's local endpoint.
			if err := postRelay(r.Context(), st.Functions["relay"], `{"to":"all","text":"order 42 shipped"}`); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer control.Close()
	out := filepath.Join(nodetest.Dir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	raw := nodetest.Run(ctx, t, nil, "browser-chat.js", st.BaseURL, out, control.URL)

	type bubble struct {
		From, Text, State string
		Mine              bool
	}
	type box struct{ Left, Right, Width float64 }
	var res struct {
		BlankName, LimitInfo, Refusal, QueuedLabel string
		LimitKept                                  int
		LimitSendOff, LimitSendOn                  bool
		Wrap                                       struct {
			Bubble, Text, List box
			ScrollX            bool
		}
		Notices []string
		NoTime  []string
		// ReloadNotices are bob's notices about alice after her reload.
		ReloadNotices []string
		Reload        struct {
			SigninHidden bool
			Whoami       string
			Kept         int
		}
		Alice, Bob []bubble
		Trace      struct {
			Kept                 int
			Kinds                []string
			Ordered              bool
			Conns, Labels        int
			Seen                 []string
			Filtered, KindsAfter []string
			Detail, RefusedLabel string
			SecretDetail         string
			ConnCells            []struct{ Label, Title string }
			ConnIDs              []string
			Tokens               []string
			Sums                 []struct {
				Kind, Text string
				Visible    bool
			}
		}
		Errors      []string
		Screenshots []string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("browser-chat.js output: %v\n%s", err, raw)
	}
	if !strings.Contains(res.BlankName, "only spaces") {
		t.Errorf("a name of spaces: %q, want a message saying why", res.BlankName)
	}
	if w := res.Wrap; w.ScrollX || w.Text.Right > w.Bubble.Right+0.5 || w.Bubble.Right > w.List.Right+0.5 || w.Bubble.Width > w.List.Width {
		t.Errorf("a 900-character URL overflows: %+v", w)
	}
	if !strings.Contains(res.LimitInfo, "1,001 characters; the limit is 1,000") || res.LimitKept != 1001 {
		t.Errorf("over the limit the composer says %q and keeps %d characters", res.LimitInfo, res.LimitKept)
	}
	if !res.LimitSendOff || !res.LimitSendOn {
		t.Errorf("Send is disabled over the limit: %t, enabled again once shortened: %t", res.LimitSendOff, res.LimitSendOn)
	}
	if res.Refusal != "text is 1500 characters; the limit is 1000" {
		t.Errorf("refused message shows %q, want the function's reason", res.Refusal)
	}
	if n := strings.Join(res.Notices, "\n"); !strings.Contains(n, "hello") || !strings.Contains(n, "maintenance at 10:00") ||
		!strings.Contains(n, "order 42 shipped") || strings.Contains(n, "sending") {
		t.Errorf("REST messages shown as %q", res.Notices)
	}
	if len(res.NoTime) != 1 || strings.Contains(res.NoTime[0], "sending") || !regexp.MustCompile(`^cli · \d`).MatchString(res.NoTime[0]) {
		t.Errorf("a chat message without a time shows as %q; want it once, stamped with when it arrived", res.NoTime)
	}
	if strings.Join(res.ReloadNotices, "|") != "alice rejoined #lobby" {
		t.Errorf("after alice's reload bob sees %q; want one line, alice rejoined #lobby", res.ReloadNotices)
	}
	if !res.Reload.SigninHidden || res.Reload.Whoami != "alice" || res.Reload.Kept < 10 {
		t.Errorf("after a reload: %+v; want alice still signed in with the conversation", res.Reload)
	}
	if !strings.HasPrefix(res.QueuedLabel, " · queued") {
		t.Errorf("a message typed offline is labelled %q", res.QueuedLabel)
	}
	// Each message exactly once, in order, on both pages; all delivered but
	// the refused one.
	var conversation []string
	for i := 1; i <= 10; i++ {
		conversation = append(conversation, fmt.Sprintf("%s: message %d from %[1]s", map[bool]string{true: "alice", false: "bob"}[i%2 == 1], i))
	}
	conversation = append(conversation, "alice: https://example.invalid/"+strings.Repeat("a", 876), "alice: "+strings.Repeat("y", 1500),
		"cli: no time", "bob: sent while alice reconnects", "alice: back after a reload", "alice: typed while the emulator was down", "alice: see you")
	var got []string
	for _, m := range res.Alice {
		got = append(got, m.From+": "+m.Text)
		if want := map[bool]string{true: "failed", false: "delivered"}[strings.HasPrefix(m.Text, "yyy")]; m.State != want || m.Mine != (m.From == "alice") {
			t.Errorf("alice's page shows %+v, want state %s", m, want)
		}
	}
	if strings.Join(got, "\n") != strings.Join(conversation, "\n") {
		t.Errorf("alice's page shows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(conversation, "\n"))
	}
	if len(res.Bob) < 12 || res.Bob[0].Text != "message 1 from alice" || res.Bob[0].Mine || !res.Bob[1].Mine {
		t.Errorf("bob's page shows %+v", res.Bob)
	}
	if len(res.Errors) > 0 {
		t.Errorf("page errors: %v", res.Errors)
	}
	// The trace page opened last shows the history, in start order.
	if len(res.Trace.Seen) != 10 || !res.Trace.Ordered || res.Trace.Kept < 50 {
		t.Errorf("late trace page: kept %d, ordered %t, shows %d of the ten messages: %v", res.Trace.Kept, res.Trace.Ordered, len(res.Trace.Seen), res.Trace.Seen)
	}
	for _, k := range []string{"connected", "frame-in", "frame-out", "group-join", "rest", "upstream", "disconnected"} {
		if !slices.Contains(res.Trace.Kinds, k) {
			t.Errorf("trace has no %q events (kinds %v)", k, res.Trace.Kinds)
		}
	}
	if res.Trace.Conns < 2 || res.Trace.Labels != res.Trace.Conns {
		t.Errorf("the trace labels %d connections with %d distinct short labels", res.Trace.Conns, res.Trace.Labels)
	}
	if !slices.Contains(res.Trace.KindsAfter, "reconnect-refused") || res.Trace.RefusedLabel != "reconnect refused" {
		t.Errorf("after the restart the trace shows kinds %v, label %q; want refused reconnects labelled so", res.Trace.KindsAfter, res.Trace.RefusedLabel)
	}
	if len(res.Trace.ConnCells) < 2 {
		t.Errorf("filtered rows show connection labels %+v; want the sender's and the receivers'", res.Trace.ConnCells)
	}
	for _, c := range res.Trace.ConnCells {
		if !slices.Contains(res.Trace.ConnIDs, c.Title) || !strings.HasSuffix(c.Title, strings.TrimPrefix(c.Label, "…")) || len(c.Label) >= len(c.Title) {
			t.Errorf("connection cell %q has title %q; want a short label with the whole id on hover", c.Label, c.Title)
		}
	}
	// Ordered by start, each with how long it took: the REST call's row
	// says so (its frames are instant).
	tookShown := false
	for _, r := range res.Trace.Filtered {
		tookShown = tookShown || strings.Contains(r, "rest") && regexp.MustCompile(`202 · [0-9.]+ ms$`).MatchString(r)
	}
	if !tookShown {
		t.Errorf("no REST row shows its status and duration: %q", res.Trace.Filtered)
	}
	if len(res.Trace.Sums) < 3 {
		t.Errorf("with a frame's detail open the filtered rows are %+v; want the frame in, the REST call and the frames out", res.Trace.Sums)
	}
	for _, s := range res.Trace.Sums {
		if !s.Visible {
			t.Errorf("with the detail open, a %s row's summary %q cuts the text off", s.Kind, s.Text)
		}
	}
	if d := res.Trace.SecretDetail; !strings.Contains(d, `"reconnectionToken": "[redacted]"`) || !strings.Contains(d, `"connectionId"`) || !strings.Contains(d, `"event": "connected"`) {
		t.Errorf("a clicked connected frame shows %q; want it whole with its reconnection token redacted", d)
	}
	for _, tok := range res.Trace.Tokens {
		if tok == "" || strings.Contains(res.Trace.SecretDetail, tok) {
			t.Errorf("reconnection token %q: missing, or shown in the trace", tok)
		}
	}
	if len(res.Trace.Filtered) == 0 {
		t.Error("filtering the trace shows nothing")
	}
	for _, r := range res.Trace.Filtered {
		if !strings.Contains(r, "message 3 from alice") {
			t.Errorf("filtered row without the text: %q", r)
		}
	}
	if d := res.Trace.Detail; !strings.Contains(d, `"text": "message 3 from alice"`) || !strings.Contains(d, `"sequenceId"`) || !strings.Contains(d, `"type": "message"`) {
		t.Errorf("the clicked frame shows %q, want the whole frame", d)
	}
	for _, s := range res.Screenshots {
		if fi, err := os.Stat(filepath.Join(out, s)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s: %v", s, err)
		}
	}
	t.Logf("screenshots in %s: %v", out, res.Screenshots)
	updateScreenshots(t, out, map[string]string{"chat.png": "chat.png", "trace.png": "trace.png"})
}

// updateScreenshots copies the test's screenshots (from → to) into
// docs/screenshots when WPSFN_UPDATE_SCREENSHOTS=1 (`make screenshots`):
// the pictures in the docs are of the pages as the tests last saw them,
// and an ordinary test run leaves the source tree alone.
func updateScreenshots(t *testing.T, out string, files map[string]string) {
	t.Helper()
	if os.Getenv("WPSFN_UPDATE_SCREENSHOTS") != "1" || t.Failed() {
		return
	}
	for from, to := range files {
		b, err := os.ReadFile(filepath.Join(out, from))
		if err == nil {
			err = os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", to), b, 0o644)
		}
		if err != nil {
			t.Errorf("updating docs/screenshots/%s: %v", to, err)
		}
	}
}

// requireChromium skips (or under CI=true fails) t unless Chromium is installed.
func requireChromium(t *testing.T) {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is required under CI (apt-get install chromium): %v", err)
		}
		t.Skipf("Chromium not installed: %v", err)
	}
	nodetest.Require(t)
}

// TestTracePageUnderFlood floods the live trace with 30,000 events/s and
// checks in headless Chromium (test/browser-trace.js) that the page stays
// usable: bounded rows, frames rendering, prompt answers, filter and pause.
func TestTracePageUnderFlood(t *testing.T) {
	requireChromium(t)
	st := startDev(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range 300 {
				n++
				s := fmt.Sprintf(`{"type":"message","n":%d}`, n)
				if n%100 == 0 {
					s = fmt.Sprintf("needle-%d", n)
				}
				st.Trace.Publish(emulator.TraceEvent{Time: time.Now(), Kind: "frame-out", Hub: "chat",
					ConnectionID: fmt.Sprintf("conn-%d", n%50), UserID: fmt.Sprintf("user-%d", n%7), Summary: s})
			}
		}
	}()
	out := filepath.Join(nodetest.Dir(), "out")
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	raw := nodetest.Run(rctx, t, nil, "browser-trace.js", st.BaseURL, out)
	var r struct {
		FPS, EvalMs, Rows, Kept, Rate, Dropped, RowsAfter int
		Filtered                                          []string
		PauseHeld, Resumed, Advancing                     bool
		PauseLabel                                        string
		Errors                                            []string
		Scroll                                            struct{ Top, Height, Client, Page, Viewport int }
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("browser-trace.js output: %v\n%s", err, raw)
	}
	if sc := r.Scroll; sc.Page > sc.Viewport+2 || sc.Client >= sc.Height || sc.Top+sc.Client < sc.Height-60 {
		t.Errorf("rows pane: %+v; want a page that fits the window and a pane scrolled to its newest rows", sc)
	}
	t.Logf("under a 30,000 events/s flood: %d fps, evaluate %d ms, %d rows over %d events, rate shown %d/s, dropped %d", r.FPS, r.EvalMs, r.Rows, r.Kept, r.Rate, r.Dropped)
	// A virtual list: the DOM holds the rows in view (800 px / 22 px ≈ 30,
	// plus a margin), the page keeps the last 20,000 events.
	if r.Rows > 80 || r.RowsAfter > 80 || r.Rows < 10 || r.Kept < 5000 || r.Kept > 25000 {
		t.Errorf("rows in the DOM %d (after resume %d), events kept %d: want a few dozen rows over thousands of events", r.Rows, r.RowsAfter, r.Kept)
	}
	// Frames per second are logged, not asserted: speed is measured in make
	// bench, never as a timed test (it failed on a loaded machine with a
	// page that was fine). The bounded DOM above is what keeps it usable.
	if !r.Advancing {
		t.Error("the rows do not follow the stream")
	}
	if r.Rate < 5000 {
		t.Errorf("rate shown %d/s; the flood is 30,000/s", r.Rate)
	}
	if len(r.Filtered) == 0 {
		t.Error("filter \"needle\" shows no rows")
	}
	for _, row := range r.Filtered {
		if !strings.Contains(row, "needle-") {
			t.Errorf("filtered row without needle: %q", row)
			break
		}
	}
	if !r.PauseHeld || !strings.HasPrefix(r.PauseLabel, "Resume") || !r.Resumed {
		t.Errorf("pause held %t (label %q), resumed %t", r.PauseHeld, r.PauseLabel, r.Resumed)
	}
	if len(r.Errors) > 0 {
		t.Errorf("page errors: %v", r.Errors)
	}
}

func TestDevBadFunctionSettings(t *testing.T) {
	for env, want := range map[string]string{
		"MESSAGE_MAX_BYTES":        "MESSAGE_MAX_BYTES: not a valid int",
		"NEGOTIATE_TOKEN_LIFETIME": "NEGOTIATE_TOKEN_LIFETIME: not a valid time.Duration",
		"BROADCAST_SECRET":         "BROADCAST_SECRET must be at least 16 bytes",
	} {
		err := runDev(context.Background(), devOptions{Addr: "127.0.0.1:0",
			Environ: map[string]string{env: "s3cret-value"}, Logger: testLogger(t)})
		var ce *devConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s=s3cret-value: %v; want a configuration error naming %q without the value", env, err, want)
		}
	}
}

// TestDevCommandBanner runs `wpsfn dev` as the command line does and follows
// the URLs it prints.
func TestDevCommandBanner(t *testing.T) {
	defer slog.SetDefault(slog.Default()) // runDevCommand sets it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--port-base", "0", "--heartbeat", "1s", "--log-level", "error"}, pw, stderr)
		pw.Close()
	}()
	lines := map[string]string{}
	connLine := ""
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "export WEBPUBSUB_CONNECTION_STRING=") {
			connLine = l
		}
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			lines[f[0]] = f[1]
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	chat := lines["Chat"]
	if !strings.HasPrefix(chat, "http://127.0.0.1:") || lines["Live"] != "trace" {
		t.Fatalf("banner lacks the chat and trace URLs: %v", lines)
	}
	for _, u := range []string{chat, strings.TrimSuffix(chat, "/") + "/trace", lines["negotiate"] + "/api/negotiate?userId=dana"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", u, resp.StatusCode)
		}
	}
	if !strings.HasPrefix(lines["broadcast-schedule"], "http://127.0.0.1:") {
		t.Errorf("banner lacks the scheduled broadcast: %v", lines)
	}
	cs, err := wps.ParseConnectionString(strings.Trim(strings.TrimPrefix(connLine, "export WEBPUBSUB_CONNECTION_STRING="), "'"))
	if err != nil || cs.Endpoint != strings.TrimSuffix(chat, "/") {
		t.Errorf("banner's connection string %q: %+v, %v", connLine, cs.Endpoint, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20s of the interrupt")
	}
}
