package cloudevents

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// testKey is the AccessKey of the connection string used to record
// testdata/cloudevents-express.jsonl (a copy of shared/conformance's).
const testKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="

type expressCase struct {
	Case    string `json:"case"`
	Request struct {
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
		Body    *string           `json:"body"`
	} `json:"request"`
	Response struct {
		Status       int               `json:"status"`
		Headers      map[string]string `json:"headers"`
		Body         string            `json:"body"`
		DecodedState json.RawMessage   `json:"decodedState"`
	} `json:"response"`
}

// expressJSONL is the recording, one exchange per line.
//
//go:embed testdata/cloudevents-express.jsonl
var expressJSONL []byte

func loadExpressCases(t testing.TB) []expressCase {
	t.Helper()
	var cases []expressCase
	sc := bufio.NewScanner(bytes.NewReader(expressJSONL))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c expressCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("bad line: %v", err)
		}
		cases = append(cases, c)
	}
	if len(cases) < 16 {
		t.Fatalf("only %d cases", len(cases))
	}
	return cases
}

// expressEquivalent is the handler the recording was made with, rebuilt
// from its answers: connect answers by query flag, user events by name.
func expressEquivalent(t testing.TB, extra func(*Handler)) http.Handler {
	h := &Handler{
		Hub:    "chat",
		Keys:   NewKeys(testKey),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			switch {
			case req.Query["reject"] != nil:
				return nil, Errorf(401, "not allowed")
			case req.Query["bad"] != nil:
				return nil, Errorf(400, "bad request")
			case req.Query["empty"] != nil:
				return nil, nil
			}
			r := &ConnectResponse{UserID: req.UserID, Groups: []string{"g1"}, Roles: []string{"webpubsub.joinLeaveGroup"}, Subprotocol: req.Subprotocols[0]}
			if err := r.SetState("counter", 1); err != nil {
				return nil, err
			}
			if err := r.SetState("who", map[string]string{"name": req.UserID}); err != nil {
				return nil, err
			}
			return r, nil
		},
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			switch req.EventName {
			case "fail":
				return nil, Errorf(500, "boom")
			case "state":
				var n int
				if _, err := req.State().Get("counter", &n); err != nil {
					return nil, err
				}
				r := &UserEventResponse{Data: []byte("counted"), DataType: DataText}
				return r, r.SetState("counter", n+1)
			}
			switch req.DataType {
			case DataText:
				if string(req.Data) == "noreply" {
					return &UserEventResponse{}, nil
				}
				return &UserEventResponse{Data: []byte("echo:" + string(req.Data)), DataType: DataText}, nil
			case DataJSON:
				b, err := json.Marshal(struct {
					Got    json.RawMessage `json:"got"`
					States State           `json:"states"`
				}{req.Data, req.State()})
				return &UserEventResponse{Data: b, DataType: DataJSON}, err
			}
			return &UserEventResponse{Data: []byte{9, 8, 7}, DataType: DataBinary}, nil
		},
	}
	if extra != nil {
		extra(h)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestExpressConformance replays every recorded exchange with Microsoft's
// @azure/web-pubsub-express 1.1.0 against our handler, over a real loopback
// HTTP connection. Where Express is unsafe or vague our answer differs on
// purpose; those cases are listed in differs and asserted separately.
func TestExpressConformance(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(expressEquivalent(t, func(o *Handler) {
		o.Connected = func(ctx context.Context, req *ConnectedRequest) error { rec.add(req); return nil }
		o.Disconnected = func(ctx context.Context, req *DisconnectedRequest) error { rec.add(req); return nil }
	}))
	defer srv.Close()
	restricted := httptest.NewServer(expressEquivalent(t, func(o *Handler) {
		o.AllowedOrigins = []string{"https://bar.webpubsub.azure.com"}
	}))
	defer restricted.Close()

	type want struct {
		status      int
		contentType string
		body        string
		why         string
	}
	// Our intentional differences from Express, each with the reason.
	differs := map[string]want{
		// Express lists its allowed hosts whatever the request's origin and
		// leaves the decision to the service; we refuse a foreign origin.
		"abuse protection, restricted": {400, "text/plain; charset=utf-8", `origin "foo.webpubsub.azure.com" is not allowed`, "refuse foreign origin"},
		// Express answers an empty 400; we say why.
		"abuse protection, no origin": {400, "text/plain; charset=utf-8", "missing WebHook-Request-Origin header", "one-line reason"},
		// Express falls through to the app's HTML 404 page; ours is plain text.
		"wrong hub (falls through to the app's 404)": {404, "text/plain; charset=utf-8", `hub "other" is not served here`, "plain-text 404"},
	}
	// Express writes refusals with no Content-Type at all (clients sniff);
	// ours label the same body as text/plain.
	labelled := map[string]bool{"connect reject 401": true, "connect reject 400": true, "user event fail 500": true}

	for _, c := range loadExpressCases(t) {
		t.Run(c.Case, func(t *testing.T) {
			base := srv.URL
			if c.Case == "abuse protection, restricted" {
				base = restricted.URL
			}
			var body io.Reader
			if c.Request.Body != nil {
				body = strings.NewReader(*c.Request.Body)
			}
			req, err := http.NewRequest(c.Request.Method, base+"/api/webpubsub/hubs/chat/", body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.Request.Headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			w := want{c.Response.Status, c.Response.Headers["Content-Type"], c.Response.Body, ""}
			if d, ok := differs[c.Case]; ok {
				w = d
				t.Logf("intentional difference (%s): Express answered %d %q %q", d.why, c.Response.Status, c.Response.Headers["Content-Type"], c.Response.Body)
			} else if labelled[c.Case] {
				if w.contentType != "" {
					t.Fatalf("recording changed: Express now sends Content-Type %q", w.contentType)
				}
				w.contentType = "text/plain; charset=utf-8"
			}
			if resp.StatusCode != w.status {
				t.Errorf("status %d, want %d", resp.StatusCode, w.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != w.contentType {
				t.Errorf("Content-Type %q, want %q", ct, w.contentType)
			}
			if string(got) != w.body {
				t.Errorf("body %q, want %q", got, w.body)
			}
			for _, k := range []string{"WebHook-Allowed-Origin", "Content-Length"} {
				if v, ok := c.Response.Headers[k]; ok && differs[c.Case].why == "" && !labelled[c.Case] {
					if g := resp.Header.Get(k); g != v && !(k == "Content-Length" && g == "" && v == "0") {
						t.Errorf("%s %q, want %q", k, g, v)
					}
				}
			}
			calls := rec.take()
			switch c.Case {
			case "connected":
				if len(calls) != 1 || calls[0].(*ConnectedRequest).UserID != "alice" || calls[0].(*ConnectedRequest).ConnectionID != "conn1" {
					t.Errorf("Connected got %+v", calls)
				}
			case "disconnected":
				if len(calls) != 1 || calls[0].(*DisconnectedRequest).Reason != "closed by client" {
					t.Errorf("Disconnected got %+v", calls)
				}
			default:
				if len(calls) != 0 {
					t.Errorf("notification callbacks ran: %+v", calls)
				}
			}
			raw := resp.Header.Get("ce-connectionState")
			if c.Response.DecodedState == nil {
				if raw != "" {
					t.Errorf("unexpected ce-connectionState %q", raw)
				}
				return
			}
			dec, err := base64.StdEncoding.DecodeString(raw)
			if err != nil {
				t.Fatalf("ce-connectionState %q: %v", raw, err)
			}
			var gotState, wantState any
			json.Unmarshal(dec, &gotState)
			json.Unmarshal(c.Response.DecodedState, &wantState)
			if !reflect.DeepEqual(gotState, wantState) {
				t.Errorf("state %s, want %s", dec, c.Response.DecodedState)
			}
			// Express's exact header value decodes the same way.
			exp, _ := base64.StdEncoding.DecodeString(c.Response.Headers["ce-connectionState"])
			if !bytes.Equal(compactJSON(t, exp), compactJSON(t, dec)) {
				t.Errorf("state bytes %s, Express %s", dec, exp)
			}
		})
	}

	// The restricted handler does accept the allowed origin, echoing it.
	req, _ := http.NewRequest(http.MethodOptions, restricted.URL, nil)
	req.Header.Set("WebHook-Request-Origin", "BAR.webpubsub.azure.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("WebHook-Allowed-Origin") != "BAR.webpubsub.azure.com" {
		t.Errorf("allowed origin: %d %q", resp.StatusCode, resp.Header.Get("WebHook-Allowed-Origin"))
	}
}

func compactJSON(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON %q: %v", b, err)
	}
	return buf.Bytes()
}
