package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	ceupstream "github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// Upstream delivery. The wire format (ce- headers, signatures, answers, the
// abuse-protection handshake) is pkg/cloudevents' service side; this file
// chooses the handler, validates it before first use, applies timeouts and
// retries, and keeps the connection state.
//
// Local choices (the service documents none of them): blocking events
// (connect, user events) get one attempt bounded by Config.UpstreamTimeout;
// notifications (connected, disconnected, joined, left) are delivered in
// order per connection, off the client's path, with up to 3 retries (0.2 s,
// 1 s, 3 s) on network errors, 429 and 5xx. A failed validation is retried
// on the next event after 2 s.

const (
	validationRetryAfter = 2 * time.Second
	requestOrigin        = "localhost"
)

// errNoHandler means no event handler of the hub takes the event.
var errNoHandler = errors.New("no event handler is registered for this event")

type upstream struct {
	s      *Server
	caller *ceupstream.Caller
	mi     *ceupstream.Caller // caller with a managed-identity token (upstreamToken)

	mu        sync.Mutex
	validated map[string]validation // by validation URL
}

type validation struct {
	err error
	at  time.Time
}

func newUpstream(s *Server) *upstream {
	client := s.cfg.HTTPClient
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		client = &http.Client{Transport: tr}
	}
	var keys *cloudevents.Keys
	if !s.cfg.DisableLocalAuth { // the service signs nothing without its keys
		keys = cloudevents.NewKeys(s.keys...)
	}
	caller := &ceupstream.Caller{Client: client, Keys: keys, Origin: requestOrigin}
	mi := *caller
	mi.Token = s.upstreamToken
	return &upstream{s: s, caller: caller, mi: &mi, validated: map[string]validation{}}
}

// authText says how a call to eh is authenticated, for the trace (never
// the token or signature itself).
func (u *upstream) authText(eh *EventHandler) string {
	t := "Signed: no (local auth is disabled: no ce-signature header)\n"
	if u.caller.Keys != nil {
		t = "Signed: yes (ce-signature header)\n"
	}
	if strings.EqualFold(eh.Auth.Type, "ManagedIdentity") {
		return t + "Bearer: yes (Authorization header: the resource identity's token for " + eh.Auth.Resource + ")\n"
	}
	return t + "Bearer: no\n"
}

// forget drops cached validations (after SetHub).
func (u *upstream) forget() {
	u.mu.Lock()
	clear(u.validated)
	u.mu.Unlock()
}

// validateTemplate checks that t is an absolute http(s) URL with
// placeholders only outside the host.
func validateTemplate(t string) error {
	if t == "" {
		return errors.New("empty URL template")
	}
	u, err := url.Parse(expand(t, "hub", "event"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("URL template %q is not an absolute http or https URL", redactTemplate(t))
	}
	if strings.Contains(strings.SplitN(strings.SplitN(t, "://", 2)[1], "/", 2)[0], "{") {
		return fmt.Errorf("URL template %q has a placeholder in the host", redactTemplate(t))
	}
	return nil
}

func redactTemplate(t string) string {
	if i := strings.IndexByte(t, '?'); i >= 0 {
		return t[:i] + "?REDACTED"
	}
	return t
}

func expand(t, hub, event string) string {
	r := strings.NewReplacer("{hub}", url.PathEscape(hub), "{event}", url.PathEscape(event))
	return r.Replace(t)
}

// handlerFor returns the first handler of h that takes the event, or nil.
// kind is "system", "user" or "group"; name is the event name.
func handlerFor(h *hub, kind, name string) *EventHandler {
	hs := h.conf()
	for i := range hs.EventHandlers {
		eh := &hs.EventHandlers[i]
		switch kind {
		case "user":
			if userPatternMatch(eh.UserEvents, name) {
				return eh
			}
		case "group":
			if eh.GroupEvents || containsFold(eh.SystemEvents, name) {
				return eh
			}
		default:
			if containsFold(eh.SystemEvents, name) {
				return eh
			}
		}
	}
	return nil
}

func userPatternMatch(pattern, name string) bool {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		return false
	}
	if pattern == "*" {
		return true
	}
	for p := range strings.SplitSeq(pattern, ",") {
		if p = strings.TrimSpace(p); p == "*" || strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// validate runs the abuse-protection handshake for eh before its first use.
func (u *upstream) validate(ctx context.Context, h *hub, eh *EventHandler) error {
	vu := expand(eh.URLTemplate, h.name, "validate")
	u.mu.Lock()
	v, ok := u.validated[vu]
	u.mu.Unlock()
	if ok && (v.err == nil || time.Since(v.at) < validationRetryAfter) {
		return v.err
	}
	start := time.Now()
	c, ctx := u.callerFor(ctx, eh)
	err := c.Validate(ctx, vu)
	status := 200
	var ve *ceupstream.ValidationError
	if errors.As(err, &ve) {
		status = ve.Status
	} else if err != nil {
		status = 0
	}
	u.s.trace(TraceEvent{Time: start, Kind: TraceUpstream, Hub: h.name, Summary: "validate " + redactTemplate(vu) + " → " + resultText(status, err), Status: status, Latency: time.Since(start)})
	if err != nil {
		u.s.log.Warn("emulator: event handler failed abuse-protection validation", "hub", h.name, "url", redactTemplate(vu), "err", err)
		err = fmt.Errorf("event handler validation failed: %w", err)
	}
	u.mu.Lock()
	u.validated[vu] = validation{err: err, at: time.Now()}
	u.mu.Unlock()
	return err
}

func resultText(status int, err error) string {
	if status == 0 && err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// call posts ev to eh once and reads the answer, tracing it.
func (u *upstream) call(ctx context.Context, h *hub, eh *EventHandler, event string, ev cloudevents.Event, cc *cloudevents.ConnectionContext) (*cloudevents.Answer, error) {
	if err := u.validate(ctx, h, eh); err != nil {
		return nil, err
	}
	target := expand(eh.URLTemplate, h.name, event)
	start := time.Now()
	c, ctx := u.callerFor(ctx, eh)
	ans, err := c.Send(ctx, target, ev)
	if u.s.tracing() {
		u.s.traceUpstream(h, cc, event, target, u.authText(eh), ev, ans, err, start)
	}
	if err != nil {
		u.s.log.Warn("emulator: upstream call failed", "hub", h.name, "event", event, "connectionId", cc.ConnectionID, "err", err)
	}
	return ans, err
}

func (c *conn) context(event string) cloudevents.ConnectionContext {
	st, _ := c.getState()
	cc := cloudevents.ConnectionContext{
		Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, EventName: event,
		Subprotocol: c.subprotocol, Origin: requestOrigin, RawState: st,
	}
	if c.mq != nil {
		cc.PhysicalConnectionID, cc.SessionID = c.mq.ids()
	}
	return cc
}

// connectResult is the outcome of the connect event.
type connectResult struct {
	resp  *cloudevents.ConnectResponse // nil: keep what the token says
	state string
	set   bool
}

// connect sends the blocking connect event. A refusal is a *cloudevents.Error
// with the handler's status; no handler means accept.
func (u *upstream) connect(ctx context.Context, h *hub, req *cloudevents.ConnectRequest) (connectResult, error) {
	eh := handlerFor(h, "system", "connect")
	if eh == nil {
		return connectResult{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, u.s.cfg.UpstreamTimeout)
	defer cancel()
	req.Origin = requestOrigin
	ans, err := u.call(ctx, h, eh, "connect", req, &req.ConnectionContext)
	if err != nil {
		return connectResult{}, err
	}
	resp, err := ans.Connect()
	if err != nil {
		return connectResult{}, err
	}
	st, set := ans.State()
	return connectResult{resp: resp, state: st, set: set}, nil
}

// errInvalidReply: a user event's reply is labelled JSON but is not.
var errInvalidReply = errors.New("The event handler answered application/json that is not valid JSON.")

// errInvalidTextReply: a user event's reply is labelled text but is not UTF-8,
// which no text frame may carry.
var errInvalidTextReply = errors.New("The event handler answered text that is not valid UTF-8.")

// userEvent sends a blocking user event and returns the reply for the
// client (nil: nothing to send). errNoHandler when no handler takes it.
func (u *upstream) userEvent(c *conn, event string, p payload) (*payload, error) {
	eh := handlerFor(c.h, "user", event)
	if eh == nil {
		return nil, errNoHandler
	}
	ctx, cancel := context.WithTimeout(u.s.ctx, u.s.cfg.UpstreamTimeout)
	defer cancel()
	req := &cloudevents.UserEventRequest{ConnectionContext: c.context(event), Data: p.data, ContentType: p.contentType()}
	ans, err := u.call(ctx, c.h, eh, event, req, &req.ConnectionContext)
	if err != nil {
		return nil, err
	}
	if st, ok := ans.State(); ok && ans.OK() {
		c.setState(st)
	}
	resp, err := ans.UserEvent()
	if err != nil {
		return nil, err
	}
	if resp == nil || len(resp.Data) == 0 {
		return nil, nil
	}
	out := payloadFromContentType(ans.Header.Get("Content-Type"), resp.Data)
	if out.dataType == dataJSON && !json.Valid(out.data) {
		// The reply is embedded as is in the client's JSON frame; invalid
		// JSON would corrupt the frame, so it fails the invocation instead.
		return nil, errInvalidReply
	}
	if out.dataType == dataText && !utf8.Valid(out.data) {
		return nil, errInvalidTextReply
	}
	return &out, nil
}

// callerFor returns the caller for eh and the context its Token hook reads
// the handler's resource from.
func (u *upstream) callerFor(ctx context.Context, eh *EventHandler) (*ceupstream.Caller, context.Context) {
	if !strings.EqualFold(eh.Auth.Type, "ManagedIdentity") {
		return u.caller, ctx
	}
	base := u.s.cfg.URL
	if base == "" {
		base = "http://localhost"
	}
	ctx = context.WithValue(ctx, resourceKey{}, eh.Auth.Resource)
	return u.mi, context.WithValue(ctx, baseKey{}, base)
}
