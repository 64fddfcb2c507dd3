package broadcast

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/envelope"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// NewSchedule returns the scheduled broadcast: each call renders the
// configured message with now and sends it to the configured target. Its
// error (a failed send) makes the host report the tick as failed.
func NewSchedule(cfg ScheduleConfig) (func(ctx context.Context, now time.Time) error, error) {
	var cc compiledSchedule
	compile := func() (cs wps.ConnectionString, err error) { cc, err = cfg.compile(); return cc.cs, err }
	s, err := fnconf.Start("broadcast-schedule", compile, &cfg.Identity, cfg.Hub, wps.ClientOptions{HTTPClient: cfg.HTTPClient, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	client, log := s.Client, s.Log
	tg, tpl := cc.target, cc.tpl
	contentType, hub := cfg.ContentType, cfg.Hub
	return func(ctx context.Context, now time.Time) error {
		if now.IsZero() {
			now = time.Now()
		}
		body, err := render(tpl, contentType, hub, now)
		if err != nil {
			log.Error("scheduled broadcast: rendering the message failed", "err", err)
			return fmt.Errorf("broadcast-schedule: rendering the message: %w", err)
		}
		msg := wps.Text(string(body))
		if contentType == "json" {
			msg = wps.JSON(json.RawMessage(body)) // sent as rendered (compacted by wps.JSON)
		}
		if err := envelope.Send(ctx, client, envelope.Parsed{Envelope: envelope.Envelope{To: tg.kind, ID: tg.id}, Message: msg}); err != nil {
			log.Error("scheduled broadcast failed", "target", tg.kind, "id", tg.id, "err", err)
			return fmt.Errorf("broadcast-schedule: sending to %s: %w", tg.kind, err)
		}
		log.Info("scheduled broadcast sent", "target", tg.kind, "id", tg.id, "bytes", len(body), "tick", now.UTC())
		return nil
	}, nil
}
