package faas

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

// PayloadError reports a host payload that could not be understood. Its
// message says what was wrong, never what the payload held.
type PayloadError struct {
	Host   Host   // where the payload came from
	Reason string // one line
	Err    error  // the underlying decode error, if any
}

func (e *PayloadError) Error() string {
	s := "faas: bad " + e.Host.String() + " payload: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *PayloadError) Unwrap() error { return e.Err }

// lambdaScheduleEvent reads a scheduled Lambda event (see
// lambdafn.ScheduleTime); without a time in it, the function runs at now.
func lambdaScheduleEvent(raw []byte, now time.Time) (ScheduleEvent, error) {
	t, ok, err := lambdafn.ScheduleTime(raw)
	if err != nil {
		if ee, isEE := err.(*lambdafn.EventError); isEE {
			return ScheduleEvent{}, &PayloadError{Host: HostLambda, Reason: ee.Reason, Err: ee.Err}
		}
		return ScheduleEvent{}, &PayloadError{Host: HostLambda, Reason: "scheduled event", Err: err}
	}
	if !ok {
		t = now.UTC()
	}
	return ScheduleEvent{Time: t, Host: HostLambda, Raw: json.RawMessage(bytes.Clone(raw))}, nil
}

// azureScheduleEvent is the ScheduleEvent of a timer invocation: the time is
// the host's (see azurefn.Invocation.Time), else now. A payload with no Data
// at all (the admin endpoint's `{"input":""}` as some hosts pass it) runs at
// now.
func azureScheduleEvent(inv *azurefn.Invocation, raw []byte, now time.Time) ScheduleEvent {
	t, ok := inv.Time()
	if !ok {
		t = now.UTC()
	}
	return ScheduleEvent{Time: t, Host: HostAzure, Raw: json.RawMessage(bytes.Clone(raw))}
}

// decodeAzure is azurefn.Decode with the error as a PayloadError.
func decodeAzure(raw []byte) (*azurefn.Invocation, error) {
	inv, err := azurefn.Decode(raw)
	if err != nil {
		return nil, &PayloadError{Host: HostAzure, Reason: err.Error()}
	}
	return inv, nil
}
