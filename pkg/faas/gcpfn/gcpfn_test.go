package gcpfn_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/faas/gcpfn"
)

func newEvent(t *testing.T, data string, at time.Time) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("1")
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	e.SetSource("//pubsub.googleapis.com/projects/p/topics/t")
	if !at.IsZero() {
		e.SetTime(at)
	}
	assert.Success(t, e.SetData(event.ApplicationJSON, json.RawMessage(data)))
	return e
}

func TestScheduleEvent(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	evTime := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, data string
		at         time.Time
		want       time.Time
		pubsub     bool
	}{
		{"publish time", `{"message":{"data":"eyJ0YXNrIjoic3dlZXAifQ==","publishTime":"2026-11-27T05:00:00.123456789Z","messageId":"9"},"subscription":"s"}`, evTime, time.Date(2026, 11, 27, 5, 0, 0, 123456789, time.UTC), true},
		{"event time", `{"message":{"data":""}}`, evTime, evTime, true},
		{"not a Pub/Sub message", `[1]`, evTime, evTime, false},
		{"no time at all", `[1]`, time.Time{}, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvent(t, tc.data, tc.at)
			ev, err := gcpfn.ScheduleEvent(&e, now)
			assert.Equal(t, "decoded", err == nil, tc.pubsub)
			assert.Equal(t, "time", ev.Time, tc.want)
			assert.Equal(t, "host", ev.Host, faas.HostGCP)
			assert.Equal(t, "raw", string(ev.Raw), tc.data)
		})
	}
}

func TestRunScheduled(t *testing.T) {
	e := newEvent(t, `{"message":{"data":"eA==","attributes":{"k":"v"}}}`, time.Time{})
	var attrs map[string]string
	fn := faas.Function{Name: "tick", Scheduled: func(ctx context.Context, ev faas.ScheduleEvent) error {
		got, ok := gcpfn.EventFromContext(ctx)
		if !ok {
			t.Error("no event in the context")
			return nil
		}
		m, err := gcpfn.DecodePubSub(got)
		assert.Success(t, err)
		attrs = m.Message.Attributes
		return nil
	}}
	assert.Success(t, gcpfn.RunScheduled(t.Context(), fn, e))
	assert.Equal(t, "attributes", attrs, map[string]string{"k": "v"})
}
