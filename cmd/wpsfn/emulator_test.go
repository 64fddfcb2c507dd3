package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func TestEmulatorCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- runEmulator(ctx, []string{"--addr", "127.0.0.1:0", "--hub", "chat=http://127.0.0.1:1/{event}"}, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var connStr string
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "Connection string: "); ok {
			connStr = s
			break
		}
	}
	go io.Copy(io.Discard, pr)
	cs, err := wps.ParseConnectionString(connStr)
	if err != nil || !strings.HasPrefix(connStr, "Endpoint=http://127.0.0.1:") || cs.AccessKey == "" {
		t.Fatalf("printed connection string %q: %v", connStr, err)
	}

	// pkg/wps talks to it: a client URL for the hub without handlers, a send.
	client, err := wps.NewClientFromConnectionString(connStr, "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	access, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, access.URL, &websocket.DialOptions{Subprotocols: []string{"json.webpubsub.azure.v1"}})
	if err != nil {
		t.Fatalf("dial %s: %v", access.BaseURL, err)
	}
	if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), `"userId":"cli"`) {
		t.Fatalf("connected message %s: %v", b, err)
	}
	if err := client.SendToAll(ctx, wps.Text("over the wire"), nil); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), "over the wire") {
		t.Fatalf("message %s: %v", b, err)
	}

	// The live trace is served too (issue 9 item 4): a page opened now gets
	// what happened before as its history.
	page, err := http.Get(cs.Endpoint + "/trace")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(body), "live trace") {
		t.Fatalf("/trace: %d %.100s", page.StatusCode, body)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, cs.Endpoint+"/trace/events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	history := ""
	for sc := bufio.NewScanner(stream.Body); sc.Scan(); {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && history == "" && strings.Contains(d, `"events"`) {
			history = d
			break
		}
	}
	stream.Body.Close()
	if !strings.Contains(history, "over the wire") || !strings.Contains(history, `"k":"rest"`) || !strings.Contains(history, `"k":"connected"`) {
		t.Fatalf("trace history = %.500s", history)
	}

	// Ctrl-C: the client is told, the command exits 0.
	cancel()
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	_, b, _ := c.Read(rctx)
	if !strings.Contains(string(b), `"event":"disconnected"`) {
		t.Fatalf("on shutdown the client got %s", b)
	}
	if _, _, err := c.Read(rctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close: %v, want 1001", err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func TestEmulatorConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emu.json")
	os.WriteFile(path, []byte(`{"accessKey":"k1","secondaryKey":"k2","hubs":{"chat":{"allowAnonymous":true,
	  "eventHandlers":[{"urlTemplate":"http://localhost:7071/api/{event}","userEvents":"*","systemEvents":["connect"],"groupEvents":true}]}}}`), 0o600)
	cfg, err := emulatorConfig(path, "", []string{"news=http://localhost:9000/{hub}/{event}"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessKey != "k1" || cfg.SecondaryKey != "k2" || !cfg.Hubs["chat"].AllowAnonymous ||
		!cfg.Hubs["chat"].EventHandlers[0].GroupEvents || cfg.Hubs["news"].EventHandlers[0].UserEvents != "*" {
		t.Fatalf("config = %+v", cfg)
	}
	busy := busyAddr(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hub", "nourl"}, "want NAME=URLTEMPLATE"},
		{[]string{"--hub", "9bad=http://x/{event}"}, "invalid name"},
		{[]string{"--hub", "chat=ftp://x/{event}"}, "not an absolute http"},
		{[]string{"--config", filepath.Join(dir, "missing.json")}, "--config"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		var stderr strings.Builder
		// On an address in use: a bad setting is reported before listening.
		args := append([]string{"--addr", busy}, tc.args...)
		if code := runEmulator(context.Background(), args, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	os.WriteFile(path, []byte(`{"hubs":{"chat":{"eventHandler":[]}}}`), 0o600)
	var stderr strings.Builder
	if code := runEmulator(context.Background(), []string{"--config", path}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown field") {
		t.Errorf("typo in config: exit %d, %q", code, stderr.String())
	}
}

// --disable-trace: no trace is kept and /trace is the emulator's 404.
func TestEmulatorDisableTrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runEmulator(ctx, []string{"--addr", "127.0.0.1:0", "--disable-trace"}, pw, io.Discard)
		pw.Close()
	}()
	var endpoint string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "Web PubSub emulator listening on "); ok {
			endpoint = s
		}
		if strings.HasPrefix(sc.Text(), "Live trace") {
			t.Errorf("banner announces a trace: %q", sc.Text())
		}
		if strings.HasPrefix(sc.Text(), "Microsoft") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get(endpoint + "/trace")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/trace with --disable-trace: %d, want 404", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
