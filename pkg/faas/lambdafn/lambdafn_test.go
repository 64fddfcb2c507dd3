package lambdafn_test

import (
	_ "embed"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

var (
	//go:embed testdata/rule.json
	ruleEvent []byte
	//go:embed testdata/url.json
	urlEvent []byte
)

func TestScheduleTime(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		want        time.Time // zero: no time, run now
	}{
		{"EventBridge rule", string(ruleEvent), time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)},
		{"Scheduler Input with time and offset", `{"time":"2026-11-27T06:00:00.123+01:00","task":"x"}`, time.Date(2026, 11, 27, 5, 0, 0, 123_000_000, time.UTC)},
		{"Scheduler Input without time", `{"task":"sweep"}`, time.Time{}},
		{"misspelt placeholder", `{"time":"<aws.scheduler.scheduled-tim>"}`, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := lambdafn.ScheduleTime([]byte(tc.event))
			assert.Success(t, err)
			assert.Equal(t, "has time", ok, !tc.want.IsZero())
			assert.Equal(t, "time", got, tc.want)
		})
	}
}

func TestScheduleTimeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, event, reason string }{
		{"empty", ``, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"time not a string", `{"time":5}`, `"time" is not a string`},
		{"function URL request", string(urlEvent), "function URL request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := lambdafn.ScheduleTime([]byte(tc.event))
			var ee *lambdafn.EventError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want an *EventError", err)
			}
			assert.Contains(t, "reason", ee.Reason, tc.reason)
		})
	}
}

func TestIsFunctionURLRequest(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		want        bool
	}{
		{"function URL request", string(urlEvent), true},
		{"rule", string(ruleEvent), false},
		{"rawPath without http", `{"rawPath":"/","requestContext":{}}`, false},
		{"not JSON", `{`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, "IsFunctionURLRequest", lambdafn.IsFunctionURLRequest([]byte(tc.event)), tc.want)
		})
	}
}

func TestEventFromContext(t *testing.T) {
	_, ok := lambdafn.EventFromContext(t.Context())
	assert.True(t, "empty context has none", !ok)
	got, ok := lambdafn.EventFromContext(lambdafn.NewContext(t.Context(), ruleEvent))
	assert.True(t, "found", ok)
	assert.Equal(t, "event", string(got), string(ruleEvent))
}

func FuzzScheduleTime(f *testing.F) {
	f.Add(ruleEvent)
	f.Add(urlEvent)
	f.Add([]byte(`{"time":"2026-11-27T05:00:00.123+01:00","task":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, ok, err := lambdafn.ScheduleTime(b)
		if err == nil && !json.Valid(b) {
			t.Errorf("accepted invalid JSON %q", b)
		}
		if ok && tm.Location() != time.UTC {
			t.Errorf("time %v not UTC", tm)
		}
	})
}
