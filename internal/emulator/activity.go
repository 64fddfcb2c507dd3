package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/shorten"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// TraceEvent is one entry of the live trace. Summary and Detail have every
// token, key, signature and reconnection token replaced by "[redacted]"
// before the Trace callback sees them.
type TraceEvent struct {
	// Time is when the event started: a REST or upstream call's arrival or
	// departure, not its completion, so that an ordering by Time puts a
	// REST call before the frames it fans out.
	Time time.Time
	// Kind is one of the Trace* kinds.
	Kind                             string
	Hub, ConnectionID, UserID, Group string
	// Summary is one line (at most maxTraceSummary bytes).
	Summary string
	// Detail is the whole frame, or the request and answer of an upstream or
	// REST call, cut at MaxTraceDetail bytes.
	Detail string
	// Status is the HTTP status of upstream and REST calls (and of a refused
	// handshake); 0 otherwise.
	Status int
	// Latency is the duration of upstream and REST calls.
	Latency time.Duration
}

// Trace kinds.
const (
	TraceFrameIn      = "frame-in"
	TraceFrameOut     = "frame-out"
	TraceUpstream     = "upstream"
	TraceREST         = "rest"
	TraceConnected    = "connected"
	TraceDisconnected = "disconnected"
	// TraceRefused is a client handshake the emulator refused (bad token,
	// refused by the connect handler, ...): no connection existed.
	TraceRefused = "refused"
	// TraceReconnectRefused is a reliable client's attempt to resume a
	// session that is gone (expired, ended, or unknown to this process).
	TraceReconnectRefused = "reconnect-refused"
	TraceGroupJoin        = "group-join"
	TraceGroupLeave       = "group-leave"
)

// MaxTraceDetail bounds TraceEvent.Detail.
const MaxTraceDetail = 16 << 10

// maxTraceSummary bounds TraceEvent.Summary.
const maxTraceSummary = 300

func (s *Server) trace(ev TraceEvent) {
	if s.cfg.Trace == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Summary = redact(ev.Summary)
	ev.Detail = redact(ev.Detail)
	s.cfg.Trace(ev)
}

func (s *Server) tracing() bool { return s.cfg.Trace != nil }

// traceFrame traces one frame to or from c. A fan-out writes the same bytes
// to many connections: the summary and detail of the last frame are reused.
func (c *conn) traceFrame(kind, what string, typ websocket.MessageType, data []byte) {
	sum, detail := c.s.frameText.get(what, typ, data)
	c.s.trace(TraceEvent{Kind: kind, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: sum, Detail: detail})
}

// traceBatch traces the frames of a written batch.
func (c *conn) traceBatch(batch []outMsg, scratch *[]byte) {
	for _, m := range batch {
		data := m.bytes(scratch)
		if m.seq > 0 {
			*scratch = appendSequenced((*scratch)[:0], m.seq, m.data)
			data = *scratch
		}
		if c.mq != nil {
			c.traceMQTTOut(data) // mqtt_trace.go: the packet, not its bytes
			continue
		}
		c.traceFrame(TraceFrameOut, m.kind.String(), m.typ, data)
	}
}

// frameTextCache remembers the texts of the last traced frame: a fan-out
// writes the same bytes to many connections. Frames are compared by content
// (a batch's sequenced frames reuse one scratch buffer).
type frameTextCache struct {
	mu     sync.Mutex
	data   []byte
	what   string
	typ    websocket.MessageType
	sum    string
	detail string
}

func (fc *frameTextCache) get(what string, typ websocket.MessageType, data []byte) (string, string) {
	fc.mu.Lock()
	if fc.data != nil && what == fc.what && typ == fc.typ && bytes.Equal(data, fc.data) {
		sum, detail := fc.sum, fc.detail
		fc.mu.Unlock()
		return sum, detail
	}
	fc.mu.Unlock()
	sum, detail := redact(frameSummary(what, typ, data)), redact(frameDetail(typ, data))
	if len(data) <= MaxTraceDetail {
		fc.mu.Lock()
		fc.data = append(fc.data[:0], data...)
		fc.what, fc.typ, fc.sum, fc.detail = what, typ, sum, detail
		fc.mu.Unlock()
	}
	return sum, detail
}

// frameDetail is the whole frame as the trace shows it on click.
func frameDetail(typ websocket.MessageType, data []byte) string {
	if typ == websocket.MessageBinary {
		n := min(len(data), MaxTraceDetail*3/4)
		s := fmt.Sprintf("binary frame, %d bytes; base64: %s", len(data), base64.StdEncoding.EncodeToString(data[:n]))
		if n < len(data) {
			s += "…"
		}
		return s
	}
	return clip(string(data), MaxTraceDetail)
}

// traceFrameFields are the parts of a JSON subprotocol frame a summary names.
type traceFrameFields struct {
	Type         string                 `json:"type"`
	Event        string                 `json:"event"`
	Group        string                 `json:"group"`
	From         string                 `json:"from"`
	FromUserID   string                 `json:"fromUserId"`
	ConnectionID string                 `json:"connectionId"`
	UserID       string                 `json:"userId"`
	Message      string                 `json:"message"`
	DataType     string                 `json:"dataType"`
	AckID        *uint64                `json:"ackId"`
	SequenceID   *uint64                `json:"sequenceId"`
	Success      *bool                  `json:"success"`
	Error        *struct{ Name string } `json:"error"`
	Data         json.RawMessage        `json:"data"`
}

// frameSummary is one line describing a frame: for the JSON subprotocols
// its type, target and ids, then the data with a chat text first, so the
// words a user typed are visible before the column is cut.
func frameSummary(what string, typ websocket.MessageType, data []byte) string {
	var b strings.Builder
	b.WriteString(what)
	if typ == websocket.MessageBinary {
		fmt.Fprintf(&b, " binary %d bytes", len(data))
		return strings.TrimSpace(b.String())
	}
	var f traceFrameFields
	if len(data) == 0 || data[0] != '{' || json.Unmarshal(data, &f) != nil || f.Type == "" {
		b.WriteString(" " + oneLine(clip(string(data), maxTraceSummary)))
		return clip(strings.TrimSpace(b.String()), maxTraceSummary)
	}
	if f.Type != what {
		b.WriteString(" " + f.Type)
	}
	if f.Event != "" {
		b.WriteString(" " + f.Event)
	}
	if f.Group != "" {
		b.WriteString(" group " + f.Group)
	}
	// "from group" says no more than the group named before it: name the
	// sender only (a user, or "server").
	switch {
	case f.FromUserID != "":
		b.WriteString(" from " + f.FromUserID)
	case f.From != "" && (f.From != "group" || f.Group == ""):
		b.WriteString(" from " + f.From)
	}
	if f.ConnectionID != "" {
		b.WriteString(" " + f.ConnectionID)
	}
	if f.AckID != nil {
		fmt.Fprintf(&b, " ack %d", *f.AckID)
	}
	if f.SequenceID != nil {
		fmt.Fprintf(&b, " seq %d", *f.SequenceID)
	}
	if f.Success != nil {
		if *f.Success {
			b.WriteString(" ok")
		} else if f.Error != nil {
			b.WriteString(" " + f.Error.Name)
		}
	}
	if f.Message != "" {
		b.WriteString(": " + f.Message)
	}
	if len(f.Data) > 0 {
		b.WriteString(" · ")
		b.WriteString(dataPreview(f.Data))
	}
	return clip(strings.TrimSpace(oneLine(b.String())), maxTraceSummary)
}

// dataPreview shows a chat message's text first ("hello" · {...}), other
// data as it is.
func dataPreview(d json.RawMessage) string {
	var chat struct {
		Text *string `json:"text"`
	}
	if d[0] == '{' && json.Unmarshal(d, &chat) == nil && chat.Text != nil {
		q, _ := json.Marshal(*chat.Text)
		return string(q) + " · " + string(d)
	}
	return string(d)
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// clip cuts s at max bytes on a rune boundary, marking the cut.
func clip(s string, max int) string { return shorten.String(s, max) }

// Redaction. Whatever a trace shows passes through redact: JSON members,
// query parameters and header lines named like a secret, JSON Web Tokens
// anywhere, and HMAC signatures.
var (
	secretNameRE = regexp.MustCompile(`(?i)("?(?:awps_reconnection_token|reconnection_?token|access_?token|id_?token|refresh_?token|token|access_?key|secondary_?key|ce-signature|signature|authorization|password|client_?secret|secret)"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|\[[^\]]*\]|[^&\s,;}"\]]+)`)
	jwtRE        = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	signatureRE  = regexp.MustCompile(`(?i)sha256=[0-9a-f]{16,}`)
	// mayHoldSecret lists substrings without which redact has nothing to
	// do: most frames are skipped with a few substring searches.
	mayHoldSecret = []string{"oken", "OKEN", "eyJ", "ignature", "IGNATURE", "uthorization", "UTHORIZATION",
		"ccess_key", "ccessKey", "ccesskey", "ACCESSKEY", "econdary", "ECONDARY", "assword", "ASSWORD", "ecret", "ECRET", "sha256=", "SHA256="}
)

const redacted = "[redacted]"

func redact(s string) string {
	found := false
	for _, n := range mayHoldSecret {
		if strings.Contains(s, n) {
			found = true
			break
		}
	}
	if !found {
		return s
	}
	s = jwtRE.ReplaceAllLiteralString(s, redacted)
	s = signatureRE.ReplaceAllLiteralString(s, redacted)
	return secretNameRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretNameRE.FindStringSubmatch(m)
		switch v := sub[2]; {
		case v == redacted || v == `"`+redacted+`"`:
			return m
		case strings.HasPrefix(v, `"`):
			return sub[1] + `"` + redacted + `"`
		case strings.HasPrefix(v, "["):
			return sub[1] + `["` + redacted + `"]`
		default:
			return sub[1] + redacted
		}
	})
}

// traceHeaders renders request headers one per line, the credentials ones
// as [redacted].
func traceHeaders(b *strings.Builder, h http.Header) {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range h[k] {
			switch strings.ToLower(k) {
			case "authorization", "ce-signature", "cookie", "proxy-authorization", "x-ms-signature":
				v = redacted
			}
			fmt.Fprintf(b, "%s: %s\n", k, v)
		}
	}
}

// restRecorder keeps the first MaxTraceDetail bytes of a REST call's
// request and answer bodies for the trace.
type restRecorder struct {
	http.ResponseWriter
	r      *http.Request
	status int
	req    traceBuffer
	resp   traceBuffer
}

// recordREST wraps w and r's body; the call is served through the recorder.
func recordREST(w http.ResponseWriter, r *http.Request) *restRecorder {
	rec := &restRecorder{ResponseWriter: w, r: r}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &traceBodyReader{ReadCloser: r.Body, buf: &rec.req}
	}
	return rec
}

func (rec *restRecorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *restRecorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	rec.resp.add(p)
	return rec.ResponseWriter.Write(p)
}

// traceREST traces a REST call served through rec.
func (s *Server) traceREST(rec *restRecorder, hub string, start time.Time) {
	st := rec.status
	if st == 0 {
		st = http.StatusOK
	}
	r := rec.r
	var d strings.Builder
	fmt.Fprintf(&d, "%s %s\n", r.Method, r.URL.RequestURI())
	traceHeaders(&d, r.Header)
	if rec.req.n > 0 {
		d.WriteString("\n")
		rec.req.writeTo(&d)
	}
	fmt.Fprintf(&d, "\n\n→ %d %s\n", st, http.StatusText(st))
	traceHeaders(&d, rec.Header())
	if rec.resp.n > 0 {
		d.WriteString("\n")
		rec.resp.writeTo(&d)
	}
	s.trace(TraceEvent{Time: start, Kind: TraceREST, Hub: hub, Status: st, Latency: time.Since(start),
		Summary: r.Method + " " + restPathSummary(r.URL.EscapedPath(), hub) + " → " + strconv.Itoa(st) + restBodyPreview(&rec.req),
		Detail:  clip(d.String(), MaxTraceDetail)})
}

// restPathSummary shortens /api/hubs/{hub}/rest to …/rest: the hub has a
// column of its own, and the summary's room goes to what was sent (the
// detail has the whole request line).
func restPathSummary(path, hub string) string {
	if rest, ok := strings.CutPrefix(path, "/api/hubs/"+hub+"/"); ok && hub != "" {
		return "…/" + rest
	}
	return path
}

// restBodyPreview is " · <body>" for a text body, a chat text first.
func restBodyPreview(b *traceBuffer) string {
	if len(b.b) == 0 || !utf8.Valid(b.b) {
		return ""
	}
	body := string(b.b)
	if len(b.b) <= 8<<10 { // a chat message, not a bulk body worth decoding for one line
		body = dataPreview(b.b)
	}
	return " · " + oneLine(clip(body, maxTraceSummary))
}

// traceUpstream traces one upstream call: the event, the handler's answer.
func (s *Server) traceUpstream(h *hub, cc *cloudevents.ConnectionContext, event, target, auth string, ev cloudevents.Event, ans *cloudevents.Answer, err error, start time.Time) {
	status := 0
	if ans != nil {
		status = ans.Status
	}
	var d strings.Builder
	fmt.Fprintf(&d, "POST %s (%s event)\n%s\n", redactTemplate(target), event, auth)
	if b, jerr := json.MarshalIndent(ev, "", "  "); jerr == nil {
		d.Write(b)
	}
	switch {
	case err != nil:
		fmt.Fprintf(&d, "\n\n→ %s\n", err)
	case ans != nil:
		fmt.Fprintf(&d, "\n\n→ %d %s\n", ans.Status, http.StatusText(ans.Status))
		traceHeaders(&d, ans.Header)
		if len(ans.Body) > 0 {
			d.WriteString("\n")
			d.Write(ans.Body[:min(len(ans.Body), MaxTraceDetail)])
		}
	}
	s.trace(TraceEvent{Time: start, Kind: TraceUpstream, Hub: h.name, ConnectionID: cc.ConnectionID, UserID: cc.UserID,
		Summary: event + " → " + resultText(status, err), Detail: clip(d.String(), MaxTraceDetail),
		Status: status, Latency: time.Since(start)})
}

// traceBuffer keeps the first MaxTraceDetail bytes written to it.
type traceBuffer struct {
	b []byte
	n int64
}

func (t *traceBuffer) add(p []byte) {
	t.n += int64(len(p))
	if room := MaxTraceDetail - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
}

func (t *traceBuffer) writeTo(b *strings.Builder) {
	if !utf8.Valid(t.b) {
		fmt.Fprintf(b, "(%d bytes of binary data)", t.n)
		return
	}
	b.Write(t.b)
	if t.n > int64(len(t.b)) {
		fmt.Fprintf(b, "… (%d bytes)", t.n)
	}
}

type traceBodyReader struct {
	io.ReadCloser
	buf *traceBuffer
}

func (r *traceBodyReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.buf.add(p[:n])
	return n, err
}
