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
	cc, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	log := fnconf.Logger(cfg.Logger)
	client, err := fnconf.NewClient("broadcast-schedule", cc.cs, &cfg.Identity, cfg.Hub, cfg.HTTPClient, log)
	if err != nil {
		return nil, err
	}
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
