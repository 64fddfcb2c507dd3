package main

import (
	"context"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/emulator"
)

// TestEmulatorLimitFlagsNegative: a negative size, count or duration given
// to `wpsfn emulator` or `wpsfn dev` stops it with status 2 and one line in
// the flag's words, before it listens: the address given is in use, and a
// bad setting is still what it reports.
func TestEmulatorLimitFlagsNegative(t *testing.T) {
	busy := busyAddr(t)
	commands := []struct {
		name string
		run  func(ctx context.Context, args []string, stdout, stderr io.Writer) int
		args []string
	}{
		{"emulator", runEmulator, []string{"--addr", busy}},
		{"dev", runDevCommand, []string{"--addr", busy, "--port-base", "0", "--device=false"}},
	}
	flags := []struct{ flag, value, want string }{
		{"keepalive", "-1s", "--keepalive is -1s: it must not be negative (zero means the default, 20s)"},
		{"reconnect-window", "-2s", "--reconnect-window is -2s: it must not be negative (zero means the default, 30s)"},
		{"upstream-timeout", "-1ms", "--upstream-timeout is -1ms: it must not be negative (zero means the default, 10s)"},
		{"read-timeout", "-1m", "--read-timeout is -1m0s: it must not be negative (zero means the default, 30s)"},
		{"max-message-bytes", "-1", "--max-message-bytes is -1: it must not be negative (zero means the default, 1048576)"},
		{"outbound-queue", "-3", "--outbound-queue is -3: it must not be negative (zero means the default, 1024)"},
		{"outbound-queue-bytes", "-4", "--outbound-queue-bytes is -4: it must not be negative (zero means the default, 16777216)"},
	}
	for _, c := range commands {
		for _, f := range flags {
			t.Run(c.name+"/"+f.flag, func(t *testing.T) {
				var stderr strings.Builder
				code := c.run(context.Background(), append(append([]string(nil), c.args...), "--"+f.flag+"="+f.value), io.Discard, &stderr)
				assert.Equal(t, "exit status", code, 2)
				assert.Equal(t, "stderr", stderr.String(), "wpsfn "+c.name+": "+f.want+"\n")
			})
		}
	}
}

// busyAddr is a loopback address a listener holds until the test ends.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestEmulatorLimitFlagsApply: the flags' values reach emulator.Config, and
// their defaults leave it zero (the emulator's defaults).
func TestEmulatorLimitFlagsApply(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		l := addEmulatorLimits(fs)
		assert.Success(t, fs.Parse([]string{"--keepalive=5s", "--reconnect-window=1m", "--upstream-timeout=2s", "--read-timeout=3s",
			"--max-message-bytes=4096", "--outbound-queue=7", "--outbound-queue-bytes=8192"}))
		var cfg emulator.Config
		l.apply(&cfg)
		assert.Equal(t, "config", cfg, emulator.Config{KeepAlive: 5 * time.Second, ReconnectWindow: time.Minute, UpstreamTimeout: 2 * time.Second,
			ReadTimeout: 3 * time.Second, MaxMessageBytes: 4096, OutboundQueue: 7, OutboundQueueBytes: 8192})
	})
	t.Run("defaults", func(t *testing.T) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		l := addEmulatorLimits(fs)
		assert.Success(t, fs.Parse(nil))
		var cfg emulator.Config
		l.apply(&cfg)
		assert.Equal(t, "config", cfg, emulator.Config{})
	})
}
