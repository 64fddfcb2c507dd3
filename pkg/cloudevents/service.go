package cloudevents

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// This file is the service side of the protocol: what Azure Web PubSub (or
// the local emulator) does to call an event handler.

// MaxAnswerBytes bounds how much of a handler's answer the service side reads.
const MaxAnswerBytes = 1 << 20

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// NewRequest builds the signed CloudEvents (binary mode) POST the service
// sends for ev to the handler at url: the ce-* headers from ev's
// ConnectionContext (Type, EventName, ID and Time are filled in when empty),
// WebHook-Request-Origin (Origin, or url's host name), the body and its
// Content-Type, and ce-signature from keys (none: no signature header).
func NewRequest(ctx context.Context, url string, ev Event, keys ...string) (*http.Request, error) {
	c := ev.connectionContext()
	if c.ConnectionID == "" {
		return nil, errors.New("cloudevents: NewRequest: ConnectionID is empty")
	}
	if c.Hub == "" {
		return nil, errors.New("cloudevents: NewRequest: Hub is empty")
	}
	ct, body, err := ev.body()
	if err != nil {
		return nil, fmt.Errorf("cloudevents: NewRequest: encoding the body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cloudevents: NewRequest: %w", redactErr(err))
	}
	name, typ := ev.defaults()
	if c.EventName != "" {
		name = c.EventName
	}
	if c.Type != "" {
		typ = c.Type
	}
	id := c.ID
	if id == "" {
		id = idPrefix + strconv.FormatUint(idCounter.Add(1), 10)
	}
	tm := c.Time
	if tm == "" {
		tm = time.Now().UTC().Format(time.RFC3339)
	}
	origin := c.Origin
	if origin == "" {
		origin = req.URL.Hostname()
	}
	h := req.Header               // fresh and empty; canonical keys are set directly
	vals := make([]string, 0, 17) // one backing array for every header's value
	set := func(k, v string) {
		if v != "" {
			vals = append(vals, v)
			h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	set(HeaderSpecVersion, "1.0")
	set(HeaderType, typ)
	set(HeaderSource, "/hubs/"+c.Hub+"/client/"+c.ConnectionID)
	set(HeaderID, id)
	set(HeaderTime, tm)
	set(HeaderAWPSVersion, "1.0")
	set(HeaderHub, c.Hub)
	set(HeaderConnectionID, c.ConnectionID)
	set(HeaderEventName, name)
	set(HeaderRequestOrigin, origin)
	set("Content-Type", ct)
	set(HeaderUserID, c.UserID)
	set(HeaderSubprotocol, c.Subprotocol)
	set(HeaderConnectionState, c.RawState)
	set(HeaderPhysicalConnectionID, c.PhysicalConnectionID)
	set(HeaderSessionID, c.SessionID)
	set(HeaderSignature, signCached(c.ConnectionID, keys))
	if u, ok := ev.(*UserEventRequest); ok {
		for _, p := range u.MQTTUserProperties {
			h.Add(mqttHeaderPrefix+p.Name, p.Value)
		}
	}
	return req, nil
}

// Answer is a handler's HTTP answer to one event, as read by the service side.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send builds the request for ev (see NewRequest), posts it with client
// (http.DefaultClient if nil) and reads the answer. A non-2xx answer is not
// an error here; see Answer.Err.
func Send(ctx context.Context, client *http.Client, url string, ev Event, keys ...string) (*Answer, error) {
	req, err := NewRequest(ctx, url, ev, keys...)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cloudevents: %s to event handler: %w", req.Header.Get(HeaderType), redactErr(err))
	}
	return ReadAnswer(resp)
}

// ReadAnswer reads and closes resp's body (at most MaxAnswerBytes; more is
// an error, as the service would refuse it).
func ReadAnswer(resp *http.Response) (*Answer, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cloudevents: reading the handler's answer: %w", err)
	}
	if len(body) > MaxAnswerBytes {
		return nil, fmt.Errorf("cloudevents: the handler's answer is larger than %d bytes", MaxAnswerBytes)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
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
	msg := string(a.Body)
	if len(msg) > 512 {
		msg = msg[:512]
	}
	e.Message = strings.TrimSpace(oneLine(msg))
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

// ValidationError is a failed abuse-protection handshake; Reason uses the
// service's error names.
type ValidationError struct {
	URL    string
	Reason string // AbuseProtectionResponseInvalidStatusCode, ...MissingAllowedOrigin, ...InvalidAllowedOrigin
	Status int
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("cloudevents: validating %s: %s (status %d)", e.URL, e.Reason, e.Status)
}

// Validate performs the abuse-protection handshake the service runs before
// it delivers events to url (the handler URL with {event} set to "validate"):
// an OPTIONS request with WebHook-Request-Origin: origin, which must be
// answered with a 2xx and WebHook-Allowed-Origin "*" or origin.
func Validate(ctx context.Context, client *http.Client, url, origin string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, url, nil)
	if err != nil {
		return fmt.Errorf("cloudevents: Validate: %w", redactErr(err))
	}
	req.Header[HeaderRequestOrigin] = []string{origin}
	req.Header[HeaderAWPSVersion] = []string{"1.0"}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cloudevents: validating: %w", redactErr(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	fail := func(reason string) error {
		return &ValidationError{URL: redactURL(url), Reason: reason, Status: resp.StatusCode}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail("AbuseProtectionResponseInvalidStatusCode")
	}
	allowed := resp.Header.Values(HeaderAllowedOrigin)
	if len(allowed) == 0 {
		return fail("AbuseProtectionResponseMissingAllowedOrigin")
	}
	for _, line := range allowed {
		for o := range strings.SplitSeq(line, ",") {
			o = strings.TrimSpace(o)
			if o == "*" || strings.EqualFold(o, origin) {
				return nil
			}
		}
	}
	return fail("AbuseProtectionResponseInvalidAllowedOrigin")
}

// redactURL drops the query (simple auth puts a code there) from u for errors.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	if p.RawQuery != "" {
		p.RawQuery = "REDACTED"
	}
	p.User = nil
	return p.String()
}

// redactErr hides the query of the URL inside a *url.Error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = redactURL(ue.URL)
		return &c
	}
	return err
}
