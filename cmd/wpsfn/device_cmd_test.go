package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// TestDeviceCommand runs `wpsfn device` next to a `wpsfn dev` without its
// own device, as the docs suggest for a second device: its readings reach
// an MQTT subscriber of the topic, and Ctrl-C stops it at once and quietly.
func TestDeviceCommand(t *testing.T) {
	st := startDev(t, 0)
	old := wpsEnviron
	wpsEnviron = func() []string {
		return []string{"WEBPUBSUB_CONNECTION_STRING=" + st.ConnectionString, "WEBPUBSUB_HUB=chat"}
	}
	defer func() { wpsEnviron = old }()
	got, _ := mqttObserver(t, st, "observer2", "lab")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"device", "--id", "sensor7", "--topic", "lab", "--interval", "100ms"}, &stdout, &stderr)
	}()
	var seqs []uint64
	for len(seqs) < 3 {
		select {
		case p := <-got:
			var r reading
			if json.Unmarshal(p.Payload, &r) == nil && r.Seq > 0 {
				if r.Device != "sensor7" {
					t.Fatalf("reading %+v, want from sensor7", r)
				}
				seqs = append(seqs, r.Seq)
			}
		case code := <-done:
			t.Fatalf("wpsfn device exited %d: %s", code, stderr.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("no readings of wpsfn device within 10s (got %v); stderr:\n%s", seqs, stderr.String())
		}
	}
	if seqs[1] != seqs[0]+1 || seqs[2] != seqs[1]+1 {
		t.Errorf("seqs %v, want consecutive", seqs)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the interrupt; want 0", code)
		}
		// Stopped promptly: nothing waited out a grace period or timed out.
		if log := stderr.String(); strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
			t.Errorf("logged at WARN/ERROR while stopping:\n%s", log)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wpsfn device did not stop within 10s of the interrupt")
	}
	if !strings.HasPrefix(stdout.String(), "wpsfn device: sensor7 publishes to topic lab every 100ms through ws://") {
		t.Errorf("stdout %q", stdout.String())
	}
	if strings.Contains(stderr.String(), "level=WARN") || strings.Contains(stderr.String(), "level=ERROR") || !strings.Contains(stderr.String(), `msg="device stopped"`) {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// Bad flags and settings: one line naming the problem, exit 2, at once.
func TestDeviceCommandRefusals(t *testing.T) {
	env := []string{"WEBPUBSUB_CONNECTION_STRING=Endpoint=http://127.0.0.1:1;AccessKey=abc;Version=1.0;", "WEBPUBSUB_HUB=chat"}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"client id with a dash", []string{"--id", "sensor-1"}, env, `wpsfn device: device id "sensor-1"`},
		{"wildcard topic", []string{"--topic", "a/#"}, env, "without the wildcards"},
		{"interval too short", []string{"--interval", "1ms"}, env, "at least 10ms"},
		{"bad log level", []string{"--log-level", "loud"}, env, "--log-level"},
		{"no connection string", nil, []string{"WEBPUBSUB_HUB=chat"}, "WEBPUBSUB_CONNECTION_STRING is not set"},
		{"stray argument", []string{"now"}, env, `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := wpsEnviron
			wpsEnviron = func() []string { return tc.env }
			defer func() { wpsEnviron = old }()
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"device"}, tc.args...), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line with %q", code, errb.String(), tc.want)
			}
		})
	}
}
