package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// TestDevShutdownOnSIGTERM runs the wpsfn binary's `dev` with JSON and
// reliable clients in a group, sends it SIGTERM, and checks the shutdown
// order: every client gets the disconnected system message and a close,
// the connect function receives every disconnected event and answers it
// (its leave announcements call the REST API, which stays up for them),
// and the process exits 0 with nothing logged at WARN or ERROR (no step
// waited out its grace period).
func TestDevShutdownOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the wpsfn binary")
	}
	cmd, base, stderr := startDevBinary(t, "--addr", "127.0.0.1:0", "--port-base", "0", "--log-level", "info")

	type client struct {
		name string
		conn *websocket.Conn
		msgs chan map[string]any
		end  chan websocket.StatusCode
	}
	var clients []*client
	for _, c := range []struct{ user, sub string }{
		{"jay", "json.webpubsub.azure.v1"}, {"rae", "json.reliable.webpubsub.azure.v1"}, {"ria", "json.reliable.webpubsub.azure.v1"},
	} {
		resp, err := http.Get(base + "/negotiate?userId=" + c.user)
		if err != nil {
			t.Fatal(err)
		}
		var neg struct{ URL string }
		json.NewDecoder(resp.Body).Decode(&neg)
		resp.Body.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, _, err := websocket.Dial(ctx, neg.URL, &websocket.DialOptions{Subprotocols: []string{c.sub}})
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", c.user, err)
		}
		cl := &client{name: c.user, conn: conn, msgs: make(chan map[string]any, 256), end: make(chan websocket.StatusCode, 1)}
		go func() {
			for {
				_, b, err := conn.Read(context.Background())
				if err != nil {
					cl.end <- websocket.CloseStatus(err)
					close(cl.msgs)
					return
				}
				var m map[string]any
				if json.Unmarshal(b, &m) == nil {
					cl.msgs <- m
				}
			}
		}()
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn.Write(wctx, websocket.MessageText, []byte(`{"type":"joinGroup","group":"lobby","ackId":1}`))
		wcancel()
		clients = append(clients, cl)
	}
	// Joined (the ack) before the signal.
	for _, c := range clients {
		deadline := time.After(10 * time.Second)
		for acked := false; !acked; {
			select {
			case m := <-c.msgs:
				acked = m["type"] == "ack" && m["ackId"] == 1.0
				if acked && m["success"] != true {
					t.Fatalf("%s: join refused: %v", c.name, m)
				}
			case <-deadline:
				t.Fatalf("%s: no join ack", c.name)
			}
		}
	}

	cmd.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		// How fast is not asserted (a loaded machine is slow, not wrong):
		// that no step waited out its grace period is, as the warning each
		// such step logs (checked below with every WARN line).
		if err != nil {
			t.Errorf("exit %v; want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10s of SIGTERM; stderr:\n%s", stderr.String())
	}
	for _, c := range clients {
		var last map[string]any
		for m := range c.msgs {
			last = m
		}
		if last["type"] != "system" || last["event"] != "disconnected" || last["message"] != "ServiceShutdown: the emulator is shutting down." {
			t.Errorf("%s: last message %v, want the disconnected system message", c.name, last)
		}
		if code := <-c.end; code != websocket.StatusGoingAway {
			t.Errorf("%s: close %v, want 1001", c.name, code)
		}
	}
	log := stderr.String()
	for _, c := range clients {
		if !strings.Contains(log, `msg=disconnected`) || !strings.Contains(log, "user="+c.name+" reason=\"ServiceShutdown") {
			t.Errorf("the connect function did not log %s's disconnected event", c.name)
		}
	}
	_, shutdown, _ := strings.Cut(log, `msg="shutting down"`)
	for _, l := range strings.Split(shutdown, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Errorf("logged at WARN/ERROR during shutdown: %s", l)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", log)
	}
}

// startDevBinary builds the wpsfn binary, runs `wpsfn dev` with args and
// reads its banner up to "Press Ctrl-C": it returns the process (killed
// when the test ends), the chat page's base URL and its stderr.
func startDevBinary(t *testing.T, args ...string) (*exec.Cmd, string, *syncbuf.Buffer) {
	t.Helper()
	bin, err := faastest.Build("./cmd/wpsfn")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"dev"}, args...)...)
	stderr := new(syncbuf.Buffer)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	base := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "Chat" {
			base = strings.TrimSuffix(f[1], "/")
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, out) // ends when the process does
	if base == "" {
		t.Fatalf("no banner; stderr:\n%s", stderr.String())
	}
	return cmd, base, stderr
}
