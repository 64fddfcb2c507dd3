// Package lambdafn reads the events AWS Lambda delivers to a wpsfn function
// besides function URL requests: EventBridge rule envelopes and EventBridge
// Scheduler inputs. pkg/faas serves functions with it; a function reads the
// event it runs for with EventFromContext, or the function URL request with
// RequestFromContext.
package lambdafn

import (
	"encoding/json"
	"errors"
	"time"
)

// IsFunctionURLRequest reports whether raw is a function URL (payload format
// 2.0) request: {"version":"2.0","rawPath":...,"requestContext":{"http":{"method":...}}}.
func IsFunctionURLRequest(raw json.RawMessage) bool {
	var ev struct {
		RawPath        *string `json:"rawPath"`
		RequestContext struct {
			HTTP *struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return false
	}
	return ev.RawPath != nil && ev.RequestContext.HTTP != nil && ev.RequestContext.HTTP.Method != ""
}

// ScheduleTime reads a scheduled event: the EventBridge rule envelope
// ({"detail-type":"Scheduled Event","source":"aws.events","time":...}) or the
// JSON Input of an EventBridge Scheduler schedule, whose "time" member (e.g.
// from <aws.scheduler.scheduled-time>) is used when present. ok is false when
// the event names no time (any JSON object runs the function), or when the
// time is not RFC 3339 (Scheduler leaves a misspelt placeholder as text).
// Function URL requests and non-objects are refused; the errors never quote
// the event.
func ScheduleTime(raw json.RawMessage) (t time.Time, ok bool, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("null")
		}
		return time.Time{}, false, &EventError{Reason: "scheduled event is not a JSON object", Err: err}
	}
	if IsFunctionURLRequest(raw) {
		return time.Time{}, false, &EventError{Reason: "a function URL request was sent to a scheduled function"}
	}
	tm, has := m["time"]
	if !has {
		return time.Time{}, false, nil
	}
	var s string
	if err := json.Unmarshal(tm, &s); err != nil {
		return time.Time{}, false, &EventError{Reason: `"time" is not a string`, Err: err}
	}
	t, err = time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, nil
	}
	return t.UTC(), true, nil
}

// EventError reports an event that cannot be served. Its message says what
// was wrong, never what the event held.
type EventError struct {
	Reason string // one line
	Err    error  // the underlying decode error, if any
}

func (e *EventError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *EventError) Unwrap() error { return e.Err }
