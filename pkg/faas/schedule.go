package faas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PayloadError reports a host payload that could not be understood. Its
// message says what was wrong, never what the payload held.
type PayloadError struct {
	Host   Host   // where the payload came from
	Reason string // one line
	Err    error  // the underlying decode error, if any
}

func (e *PayloadError) Error() string {
	s := "faas: bad " + string(e.Host) + " payload: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *PayloadError) Unwrap() error { return e.Err }

// ParseLambdaSchedule reads a scheduled Lambda event: the EventBridge rule
// envelope ({"detail-type":"Scheduled Event","source":"aws.events","time":...})
// or the JSON `Input` of an EventBridge Scheduler schedule, in which a "time"
// member (e.g. from <aws.scheduler.scheduled-time>) is used when present.
// Anything else that is a JSON object runs the function at the current time;
// function URL events and non-objects are rejected.
func ParseLambdaSchedule(raw []byte, now time.Time) (ScheduleEvent, error) {
	ev := ScheduleEvent{Time: now.UTC(), Source: string(HostLambda), Raw: json.RawMessage(bytes.Clone(raw))}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return ScheduleEvent{}, &PayloadError{Host: HostLambda, Reason: "scheduled event is not a JSON object", Err: jsonErr(err)}
	}
	if isFunctionURLEvent(m) {
		return ScheduleEvent{}, &PayloadError{Host: HostLambda, Reason: "a function URL request was sent to a scheduled function"}
	}
	if t, ok := m["time"]; ok {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return ScheduleEvent{}, &PayloadError{Host: HostLambda, Reason: `"time" is not a string`, Err: err}
		}
		// Scheduler leaves the placeholder text if it is misspelled; run anyway.
		if ts, err := ParseTime(s); err == nil {
			ev.Time = ts
		}
	}
	return ev, nil
}

func jsonErr(err error) error {
	if err == nil {
		return errors.New("null")
	}
	return err
}

// isFunctionURLEvent reports whether m looks like a function URL (payload
// format 2.0) request: {"version":"2.0","rawPath":...,"requestContext":{"http":...}}.
func isFunctionURLEvent(m map[string]json.RawMessage) bool {
	if _, ok := m["rawPath"]; !ok {
		return false
	}
	var rc struct {
		HTTP *struct {
			Method string `json:"method"`
		} `json:"http"`
	}
	if err := json.Unmarshal(m["requestContext"], &rc); err != nil {
		return false
	}
	return rc.HTTP != nil && rc.HTTP.Method != ""
}

// AzureInvocation is the custom handler invocation payload the Functions host
// POSTs to /<FunctionName> for triggers that are not forwarded HTTP.
type AzureInvocation struct {
	// Data holds each trigger/input binding's value by binding name. The host
	// sends objects, or JSON strings when it could not build an object.
	Data map[string]json.RawMessage `json:"Data"`
	// Metadata holds trigger metadata and "sys" (MethodName, UtcNow, RandGuid).
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// AzureTimer is a timerTrigger binding's value.
type AzureTimer struct {
	Schedule struct {
		AdjustForDST bool `json:"AdjustForDST"`
	} `json:"Schedule"`
	// ScheduleStatus is nil for sub-minute schedules. Its times are kept as
	// the host wrote them; read them with ParseTime.
	ScheduleStatus *struct {
		Last        string `json:"Last"`
		Next        string `json:"Next"`
		LastUpdated string `json:"LastUpdated"`
	} `json:"ScheduleStatus"`
	IsPastDue bool `json:"IsPastDue"`
}

// ParseAzureTimer reads an invocation payload for a timer trigger, leniently:
// the binding value and the metadata may be objects or JSON strings holding
// objects, timestamps may be in any of the .NET forms ParseTime knows. The
// event time is Metadata.sys.UtcNow, then the "UtcNow"/"Timestamp" metadata,
// then now. A payload with no Data at all (the admin endpoint's `{"input":""}`
// as some hosts pass it) runs at now.
func ParseAzureTimer(raw []byte, now time.Time) (ScheduleEvent, AzureTimer, error) {
	ev := ScheduleEvent{Time: now.UTC(), Source: string(HostAzure), Raw: json.RawMessage(bytes.Clone(raw))}
	var timer AzureTimer
	inv, err := DecodeAzureInvocation(raw)
	if err != nil {
		return ScheduleEvent{}, timer, err
	}
	// The timer is the one binding in Data; take the first that decodes as one.
	for _, v := range inv.Data {
		var t AzureTimer
		if unmarshalLenient(v, &t) == nil {
			timer = t
			break
		}
	}
	sys := map[string]json.RawMessage{}
	if s, ok := inv.Metadata["sys"]; ok {
		_ = unmarshalLenient(s, &sys)
	}
	for _, cand := range []json.RawMessage{sys["UtcNow"], inv.Metadata["UtcNow"], inv.Metadata["Timestamp"]} {
		var s string
		if cand == nil || json.Unmarshal(cand, &s) != nil {
			continue
		}
		if t, err := ParseTime(s); err == nil {
			ev.Time = t
			break
		}
	}
	return ev, timer, nil
}

// DecodeAzureInvocation reads an invocation payload leniently: the payload,
// Data and Metadata may each be an object or a JSON string holding one; a
// missing Data or Metadata is empty.
func DecodeAzureInvocation(raw []byte) (AzureInvocation, error) {
	var top map[string]json.RawMessage
	if err := unmarshalLenient(raw, &top); err != nil {
		return AzureInvocation{}, &PayloadError{Host: HostAzure, Reason: "invocation payload is not a JSON object with Data and Metadata", Err: err}
	}
	inv := AzureInvocation{Data: map[string]json.RawMessage{}, Metadata: map[string]json.RawMessage{}}
	for k, v := range top {
		var dst *map[string]json.RawMessage
		switch {
		case strings.EqualFold(k, "Data"):
			dst = &inv.Data
		case strings.EqualFold(k, "Metadata"):
			dst = &inv.Metadata
		default:
			continue
		}
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		if err := unmarshalLenient(v, dst); err != nil {
			return AzureInvocation{}, &PayloadError{Host: HostAzure, Reason: k + " is neither an object nor a JSON string holding one", Err: err}
		}
	}
	return inv, nil
}

// unmarshalLenient decodes raw into v, accepting a JSON string that itself
// holds the JSON (the host's fallback for values it cannot make objects of).
func unmarshalLenient(raw []byte, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		raw = []byte(s)
	}
	if bytes.Equal(raw, []byte("null")) || len(raw) == 0 {
		return errors.New("null")
	}
	if raw[0] != '{' {
		return errors.New("not an object")
	}
	return json.Unmarshal(raw, v)
}

// timeLayouts are the forms .NET hosts are seen writing: round-trip ("o")
// with up to 7 fractional digits, with or without an offset, and the
// culture-invariant general ("G") form.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05.9999999Z0700",
	"2006-01-02 15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05.9999999",
	"2006-01-02 15:04:05Z",
	"01/02/2006 15:04:05",
	"1/2/2006 3:04:05 PM",
	"01/02/2006 03:04:05 PM",
	"1/2/2006 15:04:05",
}

// ParseTime reads a timestamp as .NET and JSON.NET write them: ISO 8601 with
// or without an offset (no offset means UTC), 7 fractional digits, the
// invariant "M/d/yyyy h:mm:ss tt" form, or "/Date(ms[+hhmm])/". The result is
// in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		body := s[len("/Date(") : len(s)-2]
		if i := strings.LastIndexAny(body, "+-"); i > 0 {
			body = body[:i] // the offset only says how to display it
		}
		ms, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("faas: bad /Date()/ time %q", s)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("faas: unrecognised time %q", truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
