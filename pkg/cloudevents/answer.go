package cloudevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// Answer is a handler's HTTP answer to one event, as the service side reads it
// (package upstream's Caller returns one).
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx answer.
func (a *Answer) OK() bool { return a.Status >= 200 && a.Status < 300 }

// Err is nil for a 2xx answer and otherwise an *Error holding the status, the
// plain-text message (trimmed to one line) and, for an MQTT refusal, the
// decoded {"mqtt":{...}} body.
func (a *Answer) Err() error {
	if a.OK() {
		return nil
	}
	e := &Error{Status: a.Status}
	if mediaTypeIs(a.Header.Get("Content-Type"), "application/json") {
		var b struct {
			MQTT *MQTTError `json:"mqtt"`
		}
		if json.Unmarshal(a.Body, &b) == nil && b.MQTT != nil {
			e.MQTT = b.MQTT
			e.Message = oneLine(b.MQTT.Reason)
			return e
		}
	}
	e.Message = strings.TrimSpace(oneLine(shorten.Prefix(string(a.Body), 512)))
	return e
}

// State returns the ce-connectionState value the handler set and whether it
// set one; a service stores it as the connection's new state (absent: keep
// the old one).
func (a *Answer) State() (raw string, ok bool) {
	v := a.Header[HeaderConnectionState]
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// NextState is the connection state after this answer: the value it set, or
// prev when it set none.
func (a *Answer) NextState(prev string) string {
	if s, ok := a.State(); ok {
		return s
	}
	return prev
}

// Connect reads a connect answer: nil for 204 (or any 2xx without a body),
// the decoded JSON otherwise, and Err for a non-2xx answer.
func (a *Answer) Connect() (*ConnectResponse, error) {
	if err := a.Err(); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(a.Body)) == 0 {
		return nil, nil
	}
	var r ConnectResponse
	if err := json.Unmarshal(a.Body, &r); err != nil {
		return nil, fmt.Errorf("cloudevents: connect answer is not a JSON object: %w", err)
	}
	return &r, nil
}

// UserEvent reads a user event answer: nil when there is nothing for the
// client (204), else the data and its type from the Content-Type (a 200 with
// no Content-Type is binary). MQTT user properties come from mqtt-* headers.
func (a *Answer) UserEvent() (*UserEventResponse, error) {
	if err := a.Err(); err != nil {
		return nil, err
	}
	if a.Status == http.StatusNoContent {
		return nil, nil
	}
	r := &UserEventResponse{Data: a.Body, DataType: DataTypeOf(a.Header.Get("Content-Type"))}
	r.MQTTUserProperties = mqttProperties(a.Header)
	return r, nil
}

func mqttProperties(h http.Header) []MQTTUserProperty {
	var ps []MQTTUserProperty
	for k, vs := range h {
		if len(k) > len(mqttHeaderPrefix) && strings.EqualFold(k[:len(mqttHeaderPrefix)], mqttHeaderPrefix) {
			for _, v := range vs {
				ps = append(ps, MQTTUserProperty{Name: k[len(mqttHeaderPrefix):], Value: v})
			}
		}
	}
	return ps
}
