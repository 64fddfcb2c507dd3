package emulator

import (
	"fmt"
	"time"
)

// ConfigError is a Config field New refuses. Its text names the field and
// its default; the CLI names its own flag from Field.
type ConfigError struct {
	// Field is the Config field, e.g. "KeepAlive".
	Field string
	// Reason is one line, e.g. "is -1s: it must not be negative (zero
	// means the default, 20s)".
	Reason string
}

func (e *ConfigError) Error() string { return "emulator: Config." + e.Field + " " + e.Reason }

// check refuses negative sizes, counts and durations: zero means a
// field's default, and a negative number is a mistake, not a wish for it.
func (c *Config) check() error {
	durations := []struct {
		field  string
		v, def time.Duration
	}{
		{"KeepAlive", c.KeepAlive, DefaultKeepAlive},
		{"ReconnectWindow", c.ReconnectWindow, DefaultReconnectWindow},
		{"UpstreamTimeout", c.UpstreamTimeout, DefaultUpstreamTimeout},
		{"ReadTimeout", c.ReadTimeout, DefaultReadTimeout},
	}
	for _, d := range durations {
		if d.v < 0 {
			return &ConfigError{Field: d.field, Reason: fmt.Sprintf("is %v: it must not be negative (zero means the default, %v)", d.v, d.def)}
		}
	}
	sizes := []struct {
		field  string
		v, def int64
	}{
		{"MaxMessageBytes", c.MaxMessageBytes, DefaultMaxMessageBytes},
		{"OutboundQueue", int64(c.OutboundQueue), DefaultOutboundQueue},
		{"OutboundQueueBytes", int64(c.OutboundQueueBytes), DefaultOutboundBytes},
	}
	for _, n := range sizes {
		if n.v < 0 {
			return &ConfigError{Field: n.field, Reason: fmt.Sprintf("is %d: it must not be negative (zero means the default, %d)", n.v, n.def)}
		}
	}
	return nil
}
