// Package relay is the relay function: it forwards messages that arrive on a
// queue, a topic or an event bus (AWS SQS, SNS, EventBridge; Azure Storage
// queues, Service Bus, Event Grid; Google Pub/Sub and Eventarc) to Web
// PubSub. Each message is the envelope the broadcast function takes
//
//	{"to":"all"|"user"|"group"|"connection", "id":"...", "text":"..." | "json":{...} | "binary":"<base64>",
//	 "ttl":<seconds>, "filter":"<OData>", "excluded":["<connection id>"]}
//
// or, in the mapping mode (Config.Map), any event whose target and data
// are picked out by configuration.
//
// pkg/faas turns each platform's trigger into a faas.Message and reports
// the outcome the platform's way; this package holds only what is the same
// everywhere: the envelope, the dedupe window and the send. Outcomes:
//
//   - sent, or a duplicate of a message sent within the window: done;
//   - a permanent failure (a bad envelope, a message over Web PubSub's 1 MB
//     frame after encoding, a 4xx other than 408 and 429 from the service):
//     logged with the message id and done (a faas.PermanentError);
//   - a transient failure (5xx, 408, 429, timeouts, network errors) or a
//     delivery of a message whose other delivery is still being sent: an
//     error, so the platform redelivers it.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/envelope"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Name is the function's name in cmd/, azure-functions/ and template.yaml.
const Name = "relay"

// ErrInFlight is the transient failure of a delivery whose message is being
// sent by another delivery right now: it comes back after the first one
// finishes, and is then found a duplicate (or sent, if the first failed).
var ErrInFlight = errors.New("relay: another delivery of this message is being sent")

// Relay forwards messages. Use New.
type Relay struct {
	client  envelope.Sender
	opts    envelope.Options
	mapping *mapper
	idField string
	timeout timeoutFunc
	dedupe  *window // nil when disabled
	log     *slog.Logger
}

type timeoutFunc func(context.Context) (context.Context, context.CancelFunc)

// New returns the relay for cfg.
func New(cfg Config) (*Relay, error) {
	cfg = cfg.withDefaults() // zero fields only: validate still sees a negative one
	// Few retries: the platform redelivers a failed message anyway, and a
	// batch waits for its slowest message.
	s, err := fnconf.Start(Name, cfg.validate, &cfg.Identity, cfg.Hub, wps.ClientOptions{HTTPClient: cfg.HTTPClient, Logger: cfg.Logger,
		Retry: wps.RetryOptions{MaxRetries: cfg.SendRetries, Delay: 200 * time.Millisecond}})
	if err != nil {
		return nil, err
	}
	return newRelay(cfg, s.Client, s.Log), nil
}

func newRelay(cfg Config, client envelope.Sender, log *slog.Logger) *Relay {
	r := &Relay{client: client, opts: envelope.Options{Targets: cfg.AllowedTargets}, idField: cfg.IDField, log: log}
	d := cfg.SendTimeout
	r.timeout = func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }
	if cfg.Map.To != "" {
		r.mapping = newMapper(cfg.Map)
	}
	if !cfg.DisableDedupe {
		r.dedupe = newWindow(cfg.DedupeWindow, cfg.DedupeMaxIDs, cfg.DedupeMaxBytes)
	}
	return r
}

// Function is the relay as pkg/faas serves it.
func (r *Relay) Function() faas.Function {
	return faas.Function{Name: Name, Messages: r.Handle}
}

// Handle forwards one message (see the package documentation for the
// outcomes). Messages without an id are never taken for duplicates.
func (r *Relay) Handle(ctx context.Context, m faas.Message) error {
	key := ""
	if r.dedupe != nil && m.ID != "" {
		key = string(m.Trigger) + "\x00" + m.ID
		switch r.dedupe.begin(key) {
		case seen:
			r.log.InfoContext(ctx, "relay: duplicate dropped", "trigger", string(m.Trigger), "message_id", m.ID, "attempt", m.Attempt)
			return nil
		case inFlight:
			return ErrInFlight
		}
	}
	err := r.relay(ctx, m)
	if key != "" {
		if err == nil || faas.IsPermanent(err) {
			r.dedupe.finish(key)
		} else {
			r.dedupe.abort(key)
		}
	}
	return err
}

func (r *Relay) relay(ctx context.Context, m faas.Message) error {
	var p envelope.Parsed
	var err error
	if r.mapping != nil {
		p, err = r.mapping.envelope(m, r.opts)
	} else {
		p, err = envelope.Parse(m.Body, r.opts)
	}
	if err != nil {
		return faas.Permanent(fmt.Errorf("%s: %w", errPrefix(m.ID), err))
	}
	if r.idField != "" && m.ID != "" && p.Type == "json" {
		p = stampID(p, r.idField, m.ID)
	}
	if n := envelope.FrameSize(p); n > envelope.MaxFrameBytes {
		return faas.Permanent(fmt.Errorf("%s: %d bytes once encoded for clients, over Web PubSub's %d", errPrefix(m.ID), n, envelope.MaxFrameBytes))
	}
	sctx, cancel := r.timeout(ctx)
	defer cancel()
	if err := envelope.Send(sctx, r.client, p); err != nil {
		var re *wps.ResponseError
		if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != 408 && re.StatusCode != 429 {
			return faas.Permanent(fmt.Errorf("%s: %w", errPrefix(m.ID), err))
		}
		return fmt.Errorf("%s: %w", errPrefix(m.ID), err)
	}
	// Asked first: the line's attributes cost allocations even when dropped.
	if r.log.Enabled(ctx, slog.LevelInfo) {
		r.log.InfoContext(ctx, "relay: sent", "trigger", string(m.Trigger), "message_id", m.ID, "attempt", m.Attempt,
			"to", p.To, "id", p.ID, "type", p.Type, "bytes", p.Bytes)
	}
	return nil
}

// errPrefix names the message in an error: by its id, when the platform (or
// the local endpoint's X-Message-Id) gave one.
func errPrefix(id string) string {
	if id == "" {
		return "relay"
	}
	return "relay: message " + id
}

// CheckEnvelope reports why body is not an envelope the relay sends, or nil.
func CheckEnvelope(body []byte) error {
	p, err := envelope.Parse(body, envelope.Options{})
	if err != nil {
		return err
	}
	if n := envelope.FrameSize(p); n > envelope.MaxFrameBytes {
		return fmt.Errorf("the message is %d bytes once encoded for clients, over Web PubSub's %d", n, envelope.MaxFrameBytes)
	}
	return nil
}
