// Package gcpfn serves wpsfn functions on Google Cloud Functions (Cloud Run
// functions), whose buildpack generates the main and calls the module root
// package's registrations: HTTP functions through faas.Handler(fn,
// faas.HostGCP), scheduled functions fed by a Pub/Sub topic through
// RunScheduled. Unlike the Lambda and Azure adapters it is not reached from
// faas.Run, so it may import pkg/faas.
package gcpfn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/wpsfn/wpsfn/pkg/faas"
)

// PubSubMessage is the data of a Pub/Sub CloudEvent
// (google.cloud.pubsub.topic.v1.messagePublished). Data arrives base64 in
// the JSON; a []byte decodes it.
type PubSubMessage struct {
	Message struct {
		Data        []byte            `json:"data"`
		Attributes  map[string]string `json:"attributes"`
		MessageID   string            `json:"messageId"`
		PublishTime string            `json:"publishTime"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// DecodePubSub reads e's data as a Pub/Sub message.
func DecodePubSub(e *event.Event) (*PubSubMessage, error) {
	var m PubSubMessage
	if err := e.DataAs(&m); err != nil {
		return nil, fmt.Errorf("gcpfn: event data is not a Pub/Sub message: %w", err)
	}
	return &m, nil
}

// ScheduleEvent is the scheduled invocation e stands for (Cloud Scheduler's
// Pub/Sub target): the message's publish time, else the event's time, else
// now. Raw is the event's data. An event whose data is not a Pub/Sub message
// still yields an event, with the error that says so.
func ScheduleEvent(e *event.Event, now time.Time) (faas.ScheduleEvent, error) {
	ev := faas.ScheduleEvent{Time: now.UTC(), Host: faas.HostGCP, Raw: json.RawMessage(e.Data())}
	if !json.Valid(ev.Raw) {
		if b, err := json.Marshal(string(e.Data())); err == nil {
			ev.Raw = b
		}
	}
	if t := e.Time(); !t.IsZero() {
		ev.Time = t.UTC()
	}
	m, err := DecodePubSub(e)
	if err != nil {
		return ev, err
	}
	if m.Message.PublishTime != "" {
		if t, err := time.Parse(time.RFC3339Nano, m.Message.PublishTime); err == nil {
			ev.Time = t.UTC()
		}
	}
	return ev, nil
}

// RunScheduled runs fn.Scheduled once for e, with e in the context (see
// EventFromContext). A returned error makes Pub/Sub redeliver, so only the
// function's failures are returned; an event that is not a Pub/Sub message
// is logged and runs at the event's time.
func RunScheduled(ctx context.Context, fn faas.Function, e event.Event) error {
	ev, err := ScheduleEvent(&e, time.Now())
	if err != nil {
		slog.WarnContext(ctx, fn.Name+": running at the event time", "type", e.Type(), "error", err.Error())
	}
	return faas.RunScheduled(NewContext(ctx, &e), fn, ev)
}

type eventKey struct{}

// NewContext returns a copy of ctx that carries e.
func NewContext(ctx context.Context, e *event.Event) context.Context {
	return context.WithValue(ctx, eventKey{}, e)
}

// EventFromContext returns the CloudEvent a scheduled function runs for. It
// reports false for HTTP functions (the *http.Request is the raw invocation)
// and off Google Cloud.
func EventFromContext(ctx context.Context) (*event.Event, bool) {
	e, ok := ctx.Value(eventKey{}).(*event.Event)
	return e, ok && e != nil
}
