package main

import (
	"errors"
	"flag"
	"time"

	"github.com/wpsfn/wpsfn/internal/emulator"
)

// emulatorLimits are the emulator's size, count and duration flags, shared
// by `wpsfn emulator` and `wpsfn dev`. Zero (the flags' default) means the
// emulator's default; a negative value is refused by emulator.New, and
// limitError words the refusal as the flag's.
type emulatorLimits struct {
	keepAlive, reconnectWindow, upstreamTimeout, readTimeout time.Duration
	maxMessageBytes                                          int64
	outboundQueue, outboundQueueBytes                        int
}

// limitFlags names each emulator.Config field's flag.
var limitFlags = map[string]string{
	"KeepAlive":          "keepalive",
	"ReconnectWindow":    "reconnect-window",
	"UpstreamTimeout":    "upstream-timeout",
	"ReadTimeout":        "read-timeout",
	"MaxMessageBytes":    "max-message-bytes",
	"OutboundQueue":      "outbound-queue",
	"OutboundQueueBytes": "outbound-queue-bytes",
}

// addEmulatorLimits defines the flags on fs.
func addEmulatorLimits(fs *flag.FlagSet) *emulatorLimits {
	l := &emulatorLimits{}
	fs.DurationVar(&l.keepAlive, limitFlags["KeepAlive"], 0, "`interval` of WebSocket pings to idle clients (0: 20s)")
	fs.DurationVar(&l.reconnectWindow, limitFlags["ReconnectWindow"], 0, "how long a dropped reliable connection is kept for recovery (0: 30s)")
	fs.DurationVar(&l.upstreamTimeout, limitFlags["UpstreamTimeout"], 0, "bound of each upstream call (0: 10s)")
	fs.DurationVar(&l.readTimeout, limitFlags["ReadTimeout"], 0, "bound of a REST request body's arrival (0: 30s)")
	fs.Int64Var(&l.maxMessageBytes, limitFlags["MaxMessageBytes"], 0, "largest client message in `bytes` (0: 1 MiB)")
	fs.IntVar(&l.outboundQueue, limitFlags["OutboundQueue"], 0, "messages that may wait for a slow client before it is disconnected (0: 1024)")
	fs.IntVar(&l.outboundQueueBytes, limitFlags["OutboundQueueBytes"], 0, "`bytes` that may wait for a slow client (0: 16 MiB)")
	return l
}

// apply sets l's values in cfg.
func (l *emulatorLimits) apply(cfg *emulator.Config) {
	cfg.KeepAlive, cfg.ReconnectWindow, cfg.UpstreamTimeout, cfg.ReadTimeout = l.keepAlive, l.reconnectWindow, l.upstreamTimeout, l.readTimeout
	cfg.MaxMessageBytes, cfg.OutboundQueue, cfg.OutboundQueueBytes = l.maxMessageBytes, l.outboundQueue, l.outboundQueueBytes
}

// limitError is err with an emulator.ConfigError of a flag's field put in
// the flag's words ("--keepalive is -1s: ..."); any other error as it is.
func limitError(err error) error {
	var ce *emulator.ConfigError
	if errors.As(err, &ce) {
		if name, ok := limitFlags[ce.Field]; ok {
			return errors.New("--" + name + " " + ce.Reason)
		}
	}
	return err
}
