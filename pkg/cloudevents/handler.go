package cloudevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// DefaultMaxBodyBytes is the body limit when Handler.MaxBodyBytes is zero:
// 1 MiB, the service's frame limit.
const DefaultMaxBodyBytes = 1 << 20

// maxReasonBytes bounds an authenticator's reason in an answer.
const maxReasonBytes = 512

// DefaultTimeout bounds a callback when Handler.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// A Handler is the http.Handler for a hub's event handler URL: it answers
// the abuse-protection handshake (OPTIONS, or GET) and event POSTs,
// authenticating each event before any callback runs. Only the callbacks
// that are set are called; the others' events are acknowledged.
//
// The zero value plus callbacks is a valid configuration, as with
// http.Server, and it fails closed: without Keys or an Authenticator every
// event is refused with 401 (ErrNoAuthenticator). The configuration is
// checked on the first request (or by Validate); the fields must not change
// after that, except the keys inside Keys, which rotate while serving. A
// Handler must not be copied after first use.
type Handler struct {
	// Hub is the hub served, matched case-insensitively; events for another
	// hub get 404. Empty serves every hub.
	Hub string

	// Keys verify each event's ce-signature: a request must carry an entry
	// matching HMAC-SHA256(key, connectionId) for one of them. Replace them
	// with Keys.Set while serving to rotate them.
	Keys *Keys
	// Authenticator authenticates each event instead of Keys, for other
	// schemes (an Entra bearer token) and combinations (AnyOf(keys, ...)).
	// Setting both Keys and Authenticator is a configuration error: say
	// which combination is meant with AnyOf or AllOf.
	Authenticator Authenticator

	// AllowedOrigins are the service hosts (e.g. "x.webpubsub.azure.com", or
	// a URL whose host is used) accepted by the abuse-protection handshake.
	// Empty allows any origin.
	AllowedOrigins []string

	// MaxBodyBytes bounds request bodies (413 beyond). Zero means
	// DefaultMaxBodyBytes; negative is a configuration error.
	MaxBodyBytes int64
	// Timeout bounds each callback (504 beyond). Zero means DefaultTimeout;
	// negative is a configuration error.
	Timeout time.Duration
	// Logger receives one line per refused request; nil means slog.Default()
	// (looked up at each use).
	Logger *slog.Logger

	// Connect decides on a connecting client. A nil response accepts it as its
	// token says (204); an error refuses it (see Errorf and MQTTErrorf). Nil
	// Connect accepts every client.
	Connect func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error)
	// UserEvent handles a client's message; the response's data goes back to
	// the sender, a nil response sends nothing (204).
	UserEvent func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error)
	// Connected, Disconnected, GroupJoined and GroupLeft are notifications.
	// They run before the answer is written (a FaaS host may freeze the
	// process right after it), bounded by Timeout; an error is answered with
	// its status, which the service only logs.
	Connected    func(ctx context.Context, req *ConnectedRequest) error
	Disconnected func(ctx context.Context, req *DisconnectedRequest) error
	GroupJoined  func(ctx context.Context, req *GroupEventRequest) error
	GroupLeft    func(ctx context.Context, req *GroupEventRequest) error

	once sync.Once
	cfg  config
}

// config is what the Handler derives from its fields on first use.
type config struct {
	err     error         // a configuration error: every request gets 500
	auth    Authenticator // never nil
	origins []string      // lower-case hosts; empty: any
	maxBody int64
	timeout time.Duration
}

// Validate checks the configuration as the first request does and returns
// its error: a configuration error (ServeHTTP then answers every request
// with 500 and logs why), or ErrNoAuthenticator for a Handler without Keys
// or Authenticator (which refuses every event with 401). Call it at start-up
// to fail early; it is safe to call more than once.
func (h *Handler) Validate() error {
	c := h.config()
	if c.err != nil {
		return c.err
	}
	if c.auth == refuseAll {
		return ErrNoAuthenticator
	}
	return nil
}

// refuseAll authenticates a Handler configured with none.
var refuseAll Authenticator = refuseAllAuth{}

type refuseAllAuth struct{}

func (refuseAllAuth) Authenticate(*http.Request) error { return ErrNoAuthenticator }

func (h *Handler) config() *config {
	h.once.Do(func() { h.cfg = h.newConfig() })
	return &h.cfg
}

func (h *Handler) newConfig() config {
	c := config{maxBody: h.MaxBodyBytes, timeout: h.Timeout, auth: refuseAll}
	fail := func(err error) config { return config{err: err, auth: refuseAll} }
	switch {
	case h.Keys != nil && h.Authenticator != nil:
		return fail(errors.New("cloudevents: Handler has both Keys and Authenticator: combine them with AnyOf or AllOf"))
	case h.Keys != nil:
		c.auth = h.Keys
	case h.Authenticator != nil:
		c.auth = h.Authenticator
	}
	for _, o := range h.AllowedOrigins {
		host := originHost(o)
		if host == "" {
			return fail(fmt.Errorf("cloudevents: Handler.AllowedOrigins: %q has no host", o))
		}
		c.origins = append(c.origins, host)
	}
	switch {
	case c.maxBody < 0:
		return fail(fmt.Errorf("cloudevents: Handler.MaxBodyBytes is negative (%d)", c.maxBody))
	case c.maxBody == 0:
		c.maxBody = DefaultMaxBodyBytes
	}
	switch {
	case c.timeout < 0:
		return fail(fmt.Errorf("cloudevents: Handler.Timeout is negative (%s)", c.timeout))
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	}
	return c
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// ServeHTTP answers abuse-protection requests and events.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.config()
	if c.err != nil {
		h.refuse(w, r, http.StatusInternalServerError, "event handler is misconfigured: "+c.err.Error())
		return
	}
	switch r.Method {
	case http.MethodPost:
		h.serveEvent(w, r, c)
	case http.MethodOptions, http.MethodGet:
		h.serveValidation(w, r, c)
	default:
		w.Header().Set("Allow", "OPTIONS, GET, POST")
		h.refuse(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed")
	}
}

// refuse answers status with a one-line plain-text reason and logs it.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	h.logger().LogAttrs(r.Context(), level, "cloudevents: refused request",
		slog.Int("status", status), slog.String("reason", reason), slog.String("method", r.Method),
		slog.String("type", clip(header(r.Header, HeaderType))), slog.String("hub", clip(header(r.Header, HeaderHub))),
		slog.String("connectionId", clip(header(r.Header, HeaderConnectionID))), slog.String("remote", r.RemoteAddr))
	writeText(w, status, reason)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd["Content-Type"] = []string{contentTypeText}
	hd["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// clip keeps attacker-controlled strings short in logs and answers.
func clip(s string) string { return oneLine(shorten.String(s, 128)) }

func (h *Handler) serveEvent(w http.ResponseWriter, r *http.Request, c *config) {
	hd := r.Header
	connID := header(hd, HeaderConnectionID)
	typ := header(hd, HeaderType)
	hub := header(hd, HeaderHub)
	switch {
	case connID == "":
		h.refuse(w, r, http.StatusBadRequest, "missing ce-connectionId header")
		return
	case typ == "":
		h.refuse(w, r, http.StatusBadRequest, "missing ce-type header")
		return
	case hub == "":
		h.refuse(w, r, http.StatusBadRequest, "missing ce-hub header")
		return
	}
	if err := c.auth.Authenticate(r); err != nil {
		status, reason := http.StatusUnauthorized, err.Error()
		var e *Error
		if errors.As(err, &e) {
			status, reason = e.Status, e.Message
		}
		h.refuse(w, r, status, oneLine(shorten.String(reason, maxReasonBytes)))
		return
	}
	if h.Hub != "" && !strings.EqualFold(hub, h.Hub) {
		h.refuse(w, r, http.StatusNotFound, "hub "+strconv.Quote(clip(hub))+" is not served here")
		return
	}
	kind := eventKind(typ)
	if kind == kindUnknown {
		h.refuse(w, r, http.StatusBadRequest, "unknown event type "+strconv.Quote(clip(typ)))
		return
	}
	if r.ContentLength > c.maxBody {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, "body is larger than "+strconv.FormatInt(c.maxBody, 10)+" bytes")
		return
	}
	var body []byte
	var err error
	if kind == kindConnect {
		// The connect body is only decoded (its strings are copied out), so
		// its buffer is reused.
		bp := connectBodies.Get().(*[]byte)
		defer func() {
			if cap(*bp) <= maxPooledBody {
				connectBodies.Put(bp)
			}
		}()
		body, err = readBody(w, r, c.maxBody, *bp)
		*bp = body
	} else {
		body, err = readBody(w, r, c.maxBody, nil)
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, "body is larger than "+strconv.FormatInt(c.maxBody, 10)+" bytes")
		} else {
			h.refuse(w, r, http.StatusBadRequest, "reading the body: "+clip(err.Error()))
		}
		return
	}
	cc := ConnectionContext{
		Hub:                  hub,
		ConnectionID:         connID,
		UserID:               header(hd, HeaderUserID),
		EventName:            header(hd, HeaderEventName),
		Type:                 typ,
		Subprotocol:          header(hd, HeaderSubprotocol),
		Origin:               header(hd, HeaderRequestOrigin),
		PhysicalConnectionID: header(hd, HeaderPhysicalConnectionID),
		SessionID:            header(hd, HeaderSessionID),
		ID:                   header(hd, HeaderID),
		Time:                 header(hd, HeaderTime),
		RawState:             header(hd, HeaderConnectionState),
		stateParsed:          true,
	}
	if cc.RawState != "" {
		if cc.state, err = DecodeState(cc.RawState); err != nil {
			h.refuse(w, r, http.StatusBadRequest, "ce-connectionState is not base64 of a JSON object")
			return
		}
	}
	if cc.EventName == "" {
		cc.EventName = defaultEventName(kind, typ)
	}
	switch kind {
	case kindConnect:
		h.serveConnect(w, r, cc, body)
	case kindUser:
		h.serveUserEvent(w, r, cc, body)
	default:
		h.serveNotification(w, r, kind, cc, body)
	}
}

// connectBodies holds buffers for connect bodies of up to maxPooledBody bytes.
var connectBodies = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 64 << 10

// readBody reads at most limit bytes of r's body, into buf when it has room
// (buf's contents are overwritten).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	n := r.ContentLength
	// Allocate up front only what a frame can hold: a larger declared length
	// may never arrive (or not fit in memory at all).
	if n >= 0 && n <= DefaultMaxBodyBytes && n <= limit {
		// Reading exactly the declared length (the caller refused a larger
		// one) cannot pass the limit: no MaxBytesReader is needed.
		var b []byte
		if int64(cap(buf)) >= n {
			b = buf[:n]
		} else {
			b = make([]byte, n)
		}
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	rb := http.MaxBytesReader(w, r.Body, limit)
	b, err := io.ReadAll(rb)
	if err == nil && n >= 0 && int64(len(b)) != n {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

type kind int

const (
	kindUnknown kind = iota
	kindConnect
	kindUser
	kindConnected
	kindDisconnected
	kindGroupJoined
	kindGroupLeft
)

func eventKind(typ string) kind {
	switch typ {
	case TypeConnect:
		return kindConnect
	case TypeConnected:
		return kindConnected
	case TypeDisconnected:
		return kindDisconnected
	case TypeGroupJoined:
		return kindGroupJoined
	case TypeGroupLeft:
		return kindGroupLeft
	}
	if len(typ) > len(TypeUserPrefix) && strings.HasPrefix(typ, TypeUserPrefix) {
		return kindUser
	}
	return kindUnknown
}

func defaultEventName(k kind, typ string) string {
	switch k {
	case kindConnect:
		return "connect"
	case kindConnected:
		return "connected"
	case kindDisconnected:
		return "disconnected"
	case kindGroupJoined:
		return "joined"
	case kindGroupLeft:
		return "left"
	}
	return strings.TrimPrefix(typ, TypeUserPrefix)
}

// errAnswered is returned by call when the callback outlived Timeout and the
// timeout answer has already been written.
var errAnswered = errors.New("answered after a timeout")

// errPanic is returned by call when a callback panicked.
var errPanic = errors.New("callback panicked")

// call runs fn on the request's goroutine with a context that ends after the
// handler's Timeout, recovering a panic into errPanic. A callback that
// ignores its context does not hold the answer back: when Timeout passes, a
// watchdog writes the 504 and flushes it, and call later returns errAnswered.
// (Running fn on its own goroutine instead would cost every request a
// goroutine handoff.)
//
// ctx, when not nil, is an unused callCtx to run fn with (so that callers can
// allocate it along with their request).
func (h *Handler) call(w http.ResponseWriter, r *http.Request, name string, ctx *callCtx, fn func(context.Context) error) error {
	timeout := h.cfg.timeout
	if ctx == nil {
		ctx = &callCtx{}
	}
	ctx.init(r.Context(), timeout)
	d := watchdogs.Get().(*watchdog)
	d.h, d.w, d.r, d.name, d.ctx = h, w, r, name, ctx
	d.t.Reset(timeout)
	err := h.safe(ctx, name, fn)
	if d.t.Stop() { // fire will not run: d can serve another call
		*d = watchdog{t: d.t}
		watchdogs.Put(d)
	}
	ctx.mu.Lock()
	timedOut := ctx.answered
	ctx.answered = true
	ctx.mu.Unlock()
	ctx.release()
	if timedOut {
		return errAnswered
	}
	return err
}

// watchdog answers for a callback that outlives the handler's Timeout. Its
// timer is reused through watchdogs, which saves a timer and a closure per
// call; one whose timer fired is not reused.
type watchdog struct {
	t    *time.Timer
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	name string
	ctx  *callCtx
}

var watchdogs = sync.Pool{New: func() any {
	d := &watchdog{}
	d.t = time.AfterFunc(time.Hour, d.fire)
	d.t.Stop()
	return d
}}

func (d *watchdog) fire() {
	h, w, r, name, ctx := d.h, d.w, d.r, d.name, d.ctx
	ctx.cancel(context.DeadlineExceeded)
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	if ctx.answered || r.Context().Err() != nil { // done, or nobody to answer
		return
	}
	ctx.answered = true
	h.logger().LogAttrs(r.Context(), slog.LevelError, "cloudevents: callback timed out",
		slog.String("callback", name), slog.Duration("timeout", h.cfg.timeout),
		slog.String("type", clip(header(r.Header, HeaderType))), slog.String("connectionId", clip(header(r.Header, HeaderConnectionID))))
	// The connection stays busy until the callback returns: tell the
	// client not to send its next request on it.
	w.Header().Set("Connection", "close")
	writeText(w, http.StatusGatewayTimeout, "event handler timed out")
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (h *Handler) safe(ctx context.Context, name string, fn func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			h.logger().LogAttrs(ctx, slog.LevelError, "cloudevents: callback panicked",
				slog.String("callback", name), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			err = errPanic
		}
	}()
	return fn(ctx)
}

// connectScratch is what serving one connect needs, allocated at once.
type connectScratch struct {
	req  ConnectRequest
	strs [16]string // backs req's string arrays
	hdr  [2]string  // the answer's Content-Type and Content-Length values
	out  [160]byte  // the answer's body
	ctx  callCtx    // the callback's context
}

// userScratch is what serving one user event needs, allocated at once.
type userScratch struct {
	req UserEventRequest
	hdr [2]string // the answer's Content-Type and Content-Length values
	ctx callCtx   // the callback's context
}

func (h *Handler) serveConnect(w http.ResponseWriter, r *http.Request, cc ConnectionContext, body []byte) {
	if len(body) == 0 {
		h.refuse(w, r, http.StatusBadRequest, "connect event has an empty body")
		return
	}
	// One allocation holds the request, the backing of its string arrays
	// and the answer's bytes.
	sc := &connectScratch{}
	req := &sc.req
	if !decodeConnect(string(body), req, sc.strs[:0]) {
		*req = ConnectRequest{}
		if err := json.Unmarshal(body, req); err != nil {
			h.refuse(w, r, http.StatusBadRequest, "connect body is not a valid JSON object: "+oneLine(err.Error()))
			return
		}
	}
	req.ConnectionContext = cc
	mqttVersion := 0
	if cc.IsMQTT() || req.MQTT != nil {
		mqttVersion = 4
		if req.MQTT != nil && req.MQTT.ProtocolVersion != 0 {
			mqttVersion = req.MQTT.ProtocolVersion
		}
	}
	if h.Connect == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var resp *ConnectResponse
	err := h.call(w, r, "Connect", &sc.ctx, func(ctx context.Context) error {
		var err error
		resp, err = h.Connect(ctx, req)
		return err
	})
	if err != nil {
		h.writeError(w, r, err, mqttVersion)
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if resp.edits.changed() {
		w.Header()[HeaderConnectionState] = []string{resp.edits.apply(cc.state).Encode()}
	}
	if !resp.hasBody() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	b, ok := appendConnectResponse(sc.out[:0], resp)
	if !ok {
		var err error
		if b, err = json.Marshal(resp); err != nil {
			h.writeError(w, r, fmt.Errorf("encoding the connect response: %w", err), mqttVersion)
			return
		}
	}
	hd := w.Header()
	sc.hdr = [2]string{contentTypeJSON, strconv.Itoa(len(b))}
	hd["Content-Type"] = sc.hdr[0:1:1]
	hd["Content-Length"] = sc.hdr[1:2:2]
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (h *Handler) serveUserEvent(w http.ResponseWriter, r *http.Request, cc ConnectionContext, body []byte) {
	ct := header(r.Header, "Content-Type")
	// One allocation holds the request, its callback's context and the
	// answer's header values.
	sc := &userScratch{req: UserEventRequest{ConnectionContext: cc, Data: body, DataType: DataTypeOf(ct), ContentType: ct}}
	req := &sc.req
	if cc.PhysicalConnectionID != "" {
		req.MQTTUserProperties = mqttProperties(r.Header)
	}
	if h.UserEvent == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var resp *UserEventResponse
	err := h.call(w, r, "UserEvent", &sc.ctx, func(ctx context.Context) error {
		var err error
		resp, err = h.UserEvent(ctx, req)
		return err
	})
	if err != nil {
		h.writeError(w, r, err, 0)
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	hd := w.Header()
	if resp.edits.changed() {
		hd[HeaderConnectionState] = []string{resp.edits.apply(cc.state).Encode()}
	}
	for _, p := range resp.MQTTUserProperties {
		hd.Add(mqttHeaderPrefix+p.Name, p.Value)
	}
	sc.hdr = [2]string{resp.DataType.ContentType(), strconv.Itoa(len(resp.Data))}
	hd["Content-Type"] = sc.hdr[0:1:1]
	hd["Content-Length"] = sc.hdr[1:2:2]
	w.WriteHeader(http.StatusOK)
	w.Write(resp.Data)
}

func (h *Handler) serveNotification(w http.ResponseWriter, r *http.Request, k kind, cc ConnectionContext, body []byte) {
	var run func(context.Context) error
	var name string
	switch k {
	case kindConnected:
		if fn := h.Connected; fn != nil {
			req := &ConnectedRequest{ConnectionContext: cc}
			name, run = "Connected", func(ctx context.Context) error { return fn(ctx, req) }
		}
	case kindDisconnected:
		req := &DisconnectedRequest{}
		if len(body) > 0 {
			if err := json.Unmarshal(body, req); err != nil {
				h.refuse(w, r, http.StatusBadRequest, "disconnected body is not a valid JSON object: "+oneLine(err.Error()))
				return
			}
		}
		req.ConnectionContext = cc
		if fn := h.Disconnected; fn != nil {
			name, run = "Disconnected", func(ctx context.Context) error { return fn(ctx, req) }
		}
	case kindGroupJoined, kindGroupLeft:
		req := &GroupEventRequest{}
		if err := json.Unmarshal(body, req); err != nil {
			h.refuse(w, r, http.StatusBadRequest, "group event body is not a valid JSON object: "+oneLine(err.Error()))
			return
		}
		if req.Group == "" {
			h.refuse(w, r, http.StatusBadRequest, "group event body has no group")
			return
		}
		req.ConnectionContext = cc
		fn := h.GroupJoined
		name = "GroupJoined"
		if k == kindGroupLeft {
			fn, name = h.GroupLeft, "GroupLeft"
		}
		if fn != nil {
			run = func(ctx context.Context) error { return fn(ctx, req) }
		}
	}
	if run != nil {
		if err := h.call(w, r, name, nil, run); err != nil {
			h.writeError(w, r, err, 0)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// writeError answers a callback's error: an *Error with its status and
// message (as MQTT JSON for MQTT connects), a timeout with 504, anything else
// with a 500 that does not reveal its text.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error, mqttVersion int) {
	var e *Error
	switch {
	case errors.As(err, &e):
		h.logger().LogAttrs(r.Context(), slog.LevelInfo, "cloudevents: callback refused the event",
			slog.Int("status", e.Status), slog.String("reason", e.Message),
			slog.String("type", clip(header(r.Header, HeaderType))), slog.String("connectionId", clip(header(r.Header, HeaderConnectionID))))
	case errors.Is(err, errAnswered):
		return
	case errors.Is(err, context.DeadlineExceeded):
		h.logger().LogAttrs(r.Context(), slog.LevelError, "cloudevents: callback gave up at its deadline",
			slog.String("error", oneLine(err.Error())), slog.String("type", clip(header(r.Header, HeaderType))),
			slog.String("connectionId", clip(header(r.Header, HeaderConnectionID))))
		e = &Error{Status: http.StatusGatewayTimeout, Message: "event handler timed out"}
	default:
		h.logger().LogAttrs(r.Context(), slog.LevelError, "cloudevents: callback failed",
			slog.String("error", oneLine(err.Error())), slog.String("type", clip(header(r.Header, HeaderType))),
			slog.String("connectionId", clip(header(r.Header, HeaderConnectionID))))
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error"}
	}
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if mqttVersion == 0 {
		writeText(w, status, e.Message)
		return
	}
	m := e.MQTT
	if m == nil {
		m = &MQTTError{Code: mqttCodeFor(status, mqttVersion), Reason: e.Message}
	}
	b, _ := json.Marshal(struct {
		MQTT *MQTTError `json:"mqtt"`
	}{m})
	hd := w.Header()
	hd["Content-Type"] = []string{"application/json"}
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}
