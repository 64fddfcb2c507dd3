package emulator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
)

// TestConfigNegativeRefused: a negative size, count or duration is refused
// by New with a *ConfigError naming the field and its default; zero and
// positive values are accepted.
func TestConfigNegativeRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
		text  string // "" accepts
	}{
		{"zero values", Config{}, "", ""},
		{"positive values", Config{KeepAlive: time.Second, ReconnectWindow: time.Minute, UpstreamTimeout: time.Second,
			ReadTimeout: time.Second, MaxMessageBytes: 1, OutboundQueue: 1, OutboundQueueBytes: 1}, "", ""},
		{"KeepAlive", Config{KeepAlive: -time.Second}, "KeepAlive",
			"emulator: Config.KeepAlive is -1s: it must not be negative (zero means the default, 20s)"},
		{"ReconnectWindow", Config{ReconnectWindow: -1}, "ReconnectWindow",
			"emulator: Config.ReconnectWindow is -1ns: it must not be negative (zero means the default, 30s)"},
		{"UpstreamTimeout", Config{UpstreamTimeout: -time.Minute}, "UpstreamTimeout",
			"emulator: Config.UpstreamTimeout is -1m0s: it must not be negative (zero means the default, 10s)"},
		{"ReadTimeout", Config{ReadTimeout: -time.Second}, "ReadTimeout",
			"emulator: Config.ReadTimeout is -1s: it must not be negative (zero means the default, 30s)"},
		{"MaxMessageBytes", Config{MaxMessageBytes: -1}, "MaxMessageBytes",
			"emulator: Config.MaxMessageBytes is -1: it must not be negative (zero means the default, 1048576)"},
		{"OutboundQueue", Config{OutboundQueue: -5}, "OutboundQueue",
			"emulator: Config.OutboundQueue is -5: it must not be negative (zero means the default, 1024)"},
		{"OutboundQueueBytes", Config{OutboundQueueBytes: -1}, "OutboundQueueBytes",
			"emulator: Config.OutboundQueueBytes is -1: it must not be negative (zero means the default, 16777216)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if tc.text == "" {
				assert.Success(t, err)
				t.Cleanup(func() { s.Shutdown(context.Background()) })
				assert.Equal(t, "defaulted KeepAlive", s.cfg.KeepAlive > 0, true)
				assert.Equal(t, "defaulted OutboundQueue", s.cfg.OutboundQueue > 0, true)
				return
			}
			var ce *ConfigError
			assert.True(t, "error is a *ConfigError", errors.As(err, &ce))
			assert.Equal(t, "field", ce.Field, tc.field)
			assert.Equal(t, "text", err.Error(), tc.text)
			assert.True(t, "no Server", s == nil)
		})
	}
}
