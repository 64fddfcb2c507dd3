package cloudevents

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// signedHeaders are the headers of a valid user event from conn1 on hub chat.
func signedHeaders(typ string) map[string]string {
	return map[string]string{
		"ce-specversion": "1.0", "ce-type": typ, "ce-source": "/hubs/chat/client/conn1", "ce-id": "1",
		"ce-awpsversion": "1.0", "ce-hub": "chat", "ce-connectionId": "conn1", "ce-userId": "alice",
		"ce-eventName": strings.TrimPrefix(typ, TypeUserPrefix), "ce-signature": Sign("conn1", testKey),
		"WebHook-Request-Origin": "xxx.webpubsub.azure.com", "Content-Type": "text/plain",
	}
}

type secCase struct {
	name    string
	method  string
	headers map[string]string // raw header names, sent in exactly this case
	drop    []string
	body    string
	chunked bool // send without Content-Length
	status  int
	reason  string // the whole plain-text body
	called  bool   // whether a callback must have run
}

func TestSecurity(t *testing.T) {
	logs := &syncbuf.Buffer{}
	rec := &recorder{}
	h := &Handler{
		Hub:          "chat",
		Keys:         NewKeys(testKey, otherKey),
		MaxBodyBytes: 64,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			rec.add(req)
			return &ConnectResponse{UserID: "x"}, nil
		},
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			rec.add(req)
			switch string(req.Data) {
			case "panic":
				panic("kaboom")
			case "leak":
				return nil, io.ErrUnexpectedEOF // any non-*Error: a 500 that hides its text
			}
			return &UserEventResponse{Data: req.Data, DataType: req.DataType}, nil
		},
		Connected:    func(ctx context.Context, req *ConnectedRequest) error { rec.add(req); return nil },
		Disconnected: func(ctx context.Context, req *DisconnectedRequest) error { rec.add(req); return nil },
		GroupJoined:  func(ctx context.Context, req *GroupEventRequest) error { rec.add(req); return nil },
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	user := TypeUserPrefix + "message"
	sig := Sign("conn1", testKey)
	sig2 := Sign("conn1", otherKey)
	with := func(typ string, kv ...string) map[string]string {
		m := signedHeaders(typ)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	connectBody := `{"claims":{},"query":{},"headers":{},"subprotocols":[]}`
	const badSig = "ce-signature does not match any access key"
	b64 := base64.StdEncoding.EncodeToString
	cases := []secCase{
		{name: "valid", headers: with(user), body: "hi", status: 200, reason: "hi", called: true},
		{name: "missing signature", headers: with(user, "ce-signature", ""), body: "hi", status: 401, reason: "missing ce-signature header"},
		{name: "empty signature", headers: with(user, "ce-signature", " "), body: "hi", status: 401, reason: badSig},
		{name: "forged signature", headers: with(user, "ce-signature", "sha256="+strings.Repeat("ab", 32)), body: "hi", status: 401, reason: badSig},
		{name: "truncated signature", headers: with(user, "ce-signature", sig[:len(sig)-2]), body: "hi", status: 401, reason: badSig},
		{name: "signature with extra hex", headers: with(user, "ce-signature", sig+"00"), body: "hi", status: 401, reason: badSig},
		{name: "signature without prefix", headers: with(user, "ce-signature", strings.TrimPrefix(sig, "sha256=")), body: "hi", status: 401, reason: badSig},
		{name: "other key", headers: with(user, "ce-signature", Sign("conn1", "not-our-key")), body: "hi", status: 401, reason: badSig},
		{name: "signature of another connection", headers: with(user, "ce-signature", Sign("conn2", testKey)), body: "hi", status: 401, reason: badSig},
		{name: "upper-case hex", headers: with(user, "ce-signature", "sha256="+strings.ToUpper(sig[7:])), body: "hi", status: 200, reason: "hi", called: true},
		{name: "upper-case prefix", headers: with(user, "ce-signature", "SHA256="+sig[7:]), body: "hi", status: 200, reason: "hi", called: true},
		{name: "comma separated, ours second", headers: with(user, "ce-signature", Sign("conn1", "old")+","+sig), body: "hi", status: 200, reason: "hi", called: true},
		{name: "comma space separated", headers: with(user, "ce-signature", Sign("conn1", "old")+", "+sig), body: "hi", status: 200, reason: "hi", called: true},
		{name: "rotated: secondary key only", headers: with(user, "ce-signature", sig2), body: "hi", status: 200, reason: "hi", called: true},
		{name: "missing connection id", headers: with(user, "ce-connectionId", ""), body: "hi", status: 400, reason: "missing ce-connectionId header"},
		{name: "missing type", headers: with(user, "ce-type", ""), body: "hi", status: 400, reason: "missing ce-type header"},
		{name: "missing hub", headers: with(user, "ce-hub", ""), body: "hi", status: 400, reason: "missing ce-hub header"},
		{name: "wrong hub", headers: with(user, "ce-hub", "other"), body: "hi", status: 404, reason: `hub "other" is not served here`},
		{name: "hub in other case", headers: with(user, "ce-hub", "CHAT"), body: "hi", status: 200, reason: "hi", called: true},
		{name: "wrong hub unsigned is 401 first", headers: with(user, "ce-hub", "other", "ce-signature", ""), body: "hi", status: 401, reason: "missing ce-signature header"},
		{name: "unknown system event", headers: with("azure.webpubsub.sys.reboot"), body: "{}", status: 400, reason: `unknown event type "azure.webpubsub.sys.reboot"`},
		{name: "unknown event type", headers: with("com.example.thing"), body: "{}", status: 400, reason: `unknown event type "com.example.thing"`},
		{name: "user event without name", headers: with(TypeUserPrefix), body: "{}", status: 400, reason: `unknown event type "azure.webpubsub.user."`},
		{name: "oversize body", headers: with(user), body: strings.Repeat("x", 65), status: 413, reason: "body is larger than 64 bytes"},
		{name: "oversize chunked body", headers: with(user), body: strings.Repeat("x", 65), chunked: true, status: 413, reason: "body is larger than 64 bytes"},
		{name: "body at the limit", headers: with(user), body: strings.Repeat("x", 64), status: 200, reason: strings.Repeat("x", 64), called: true},
		{name: "empty user event is a message", headers: with(user), body: "", status: 200, reason: "", called: true},
		{name: "empty connect body", headers: with(TypeConnect), body: "", status: 400, reason: "connect event has an empty body"},
		{name: "malformed connect body", headers: with(TypeConnect), body: `{"claims":`, status: 400, reason: "connect body is not a valid JSON object: unexpected end of JSON input"},
		{name: "connect body not an object", headers: with(TypeConnect), body: `[1,2]`, status: 400, reason: "connect body is not a valid JSON object: json: cannot unmarshal array into Go value of type cloudevents.ConnectRequest"},
		{name: "connect claims of wrong type", headers: with(TypeConnect), body: `{"claims":{"sub":"alice"}}`, status: 400, reason: "connect body is not a valid JSON object: json: cannot unmarshal string into Go struct field ConnectRequest.claims of type []string"},
		{name: "connect ok", headers: with(TypeConnect), body: connectBody, status: 200, reason: `{"userId":"x"}`, called: true},
		{name: "malformed disconnected body", headers: with(TypeDisconnected), body: `reason`, status: 400, reason: "disconnected body is not a valid JSON object: invalid character 'r' looking for beginning of value"},
		{name: "group event without group", headers: with(TypeGroupJoined), body: `{}`, status: 400, reason: "group event body has no group"},
		{name: "bad base64 state", headers: with(user, "ce-connectionState", "%%%not base64"), body: "hi", status: 400, reason: "ce-connectionState is not base64 of a JSON object"},
		{name: "state not JSON", headers: with(user, "ce-connectionState", b64([]byte("hello"))), body: "hi", status: 400, reason: "ce-connectionState is not base64 of a JSON object"},
		{name: "state an array", headers: with(user, "ce-connectionState", b64([]byte("[1]"))), body: "hi", status: 400, reason: "ce-connectionState is not base64 of a JSON object"},
		{name: "state null", headers: with(user, "ce-connectionState", b64([]byte("null"))), body: "hi", status: 400, reason: "ce-connectionState is not base64 of a JSON object"},
		{name: "state a string", headers: with(user, "ce-connectionState", b64([]byte(`"s"`))), body: "hi", status: 400, reason: "ce-connectionState is not base64 of a JSON object"},
		{name: "state unpadded base64 ok", headers: with(user, "ce-connectionState", base64.RawStdEncoding.EncodeToString([]byte(`{"a":1}`))), body: "hi", status: 200, reason: "hi", called: true},
		{name: "upper-case header names", headers: upper(with(user)), body: "hi", status: 200, reason: "hi", called: true},
		{name: "mixed-case header names", headers: map[string]string{"CE-Type": user, "Ce-HUB": "chat", "ce-CONNECTIONID": "conn1", "CE-SIGNATURE": sig, "content-type": "text/plain"}, body: "hi", status: 200, reason: "hi", called: true},
		{name: "callback panics", headers: with(user), body: "panic", status: 500, reason: "internal error", called: true},
		{name: "callback error text hidden", headers: with(user), body: "leak", status: 500, reason: "internal error", called: true},
		{name: "PUT not allowed", method: "PUT", headers: with(user), body: "hi", status: 405, reason: "method PUT is not allowed"},
		{name: "DELETE unsigned not allowed", method: "DELETE", headers: map[string]string{}, status: 405, reason: "method DELETE is not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logs.String())
			status, ct, body := rawDo(t, srv.URL, tc)
			if status != tc.status || body != tc.reason {
				t.Errorf("got %d %q, want %d %q", status, body, tc.status, tc.reason)
			}
			calls := rec.take()
			if tc.called != (len(calls) == 1) {
				t.Errorf("callback calls %d, want called=%v", len(calls), tc.called)
			}
			if status >= 400 {
				if ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q for a refusal", ct)
				}
				line := logs.String()[before:]
				if !strings.Contains(line, "status="+strconv.Itoa(status)) && !strings.Contains(line, "panicked") && !strings.Contains(line, "callback failed") {
					t.Errorf("no log line for the refusal: %q", line)
				}
				if strings.Count(strings.TrimSpace(body), "\n") != 0 || strings.Contains(body, "goroutine") {
					t.Errorf("body is not one line: %q", body)
				}
			}
		})
	}
	all := logs.String()
	for _, secret := range []string{testKey, otherKey, sig[7:], sig2[7:]} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain a secret %q", secret)
		}
	}
	if !strings.Contains(all, "kaboom") || strings.Count(all, "level=WARN") < 20 {
		t.Errorf("refusals and the panic were not logged:\n%s", all)
	}
}

func upper(m map[string]string) map[string]string {
	u := map[string]string{}
	for k, v := range m {
		u[strings.ToUpper(k)] = v
	}
	return u
}

// rawDo sends tc with header names exactly as given (Go's client would
// otherwise canonicalise them).
func rawDo(t *testing.T, url string, tc secCase) (int, string, string) {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader = strings.NewReader(tc.body)
	if tc.chunked {
		body = io.MultiReader(strings.NewReader(tc.body)) // unknown length: chunked
	}
	req, err := http.NewRequest(method, url+"/eventhandler", body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.headers {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestNotificationsRunBeforeAnswer: a FaaS host may freeze the process once
// the answer is written, so notification callbacks finish first (Express
// answers first and runs them afterwards).
func TestNotificationsRunBeforeAnswer(t *testing.T) {
	var mu sync.Mutex
	finished := map[string]bool{}
	slow := func(name string) func() error {
		return func() error {
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			finished[name] = true
			mu.Unlock()
			return nil
		}
	}
	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey), Logger: quietLogger(),
		Connected:    func(ctx context.Context, req *ConnectedRequest) error { return slow("connected")() },
		Disconnected: func(ctx context.Context, req *DisconnectedRequest) error { return slow("disconnected")() },
		GroupJoined:  func(ctx context.Context, req *GroupEventRequest) error { return slow("joined")() },
		GroupLeft:    func(ctx context.Context, req *GroupEventRequest) error { return slow("left")() },
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cc := ConnectionContext{Hub: "chat", ConnectionID: "c"}
	left := &GroupEventRequest{ConnectionContext: cc, Group: "g"}
	left.EventName = "left"
	for name, ev := range map[string]Event{
		"connected":    &ConnectedRequest{ConnectionContext: cc},
		"disconnected": &DisconnectedRequest{ConnectionContext: cc, Reason: "x"},
		"joined":       &GroupEventRequest{ConnectionContext: cc, Group: "g"},
		"left":         left,
	} {
		ans, err := send(context.Background(), srv.URL, ev, testKey)
		if err != nil || ans.Status != 200 {
			t.Fatalf("%s: %v %+v", name, err, ans)
		}
		mu.Lock()
		done := finished[name]
		mu.Unlock()
		if !done {
			t.Errorf("%s: answered before the callback finished", name)
		}
	}
}

// TestTimeout: a callback that ignores its context is cut off at Timeout.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey), Logger: quietLogger(), Timeout: 100 * time.Millisecond,
		Connected: func(ctx context.Context, req *ConnectedRequest) error { <-release; return nil },
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			<-ctx.Done() // honours its context
			return nil, ctx.Err()
		},
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the stuck callback
	cc := ConnectionContext{Hub: "chat", ConnectionID: "c"}
	for _, ev := range []Event{&ConnectedRequest{ConnectionContext: cc}, &UserEventRequest{ConnectionContext: cc, Data: []byte("x")}} {
		start := time.Now()
		ans, err := send(context.Background(), srv.URL, ev, testKey)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("took %v", el)
		}
		if ans.Status != 504 || string(ans.Body) != "event handler timed out" {
			t.Errorf("status %d %q", ans.Status, ans.Body)
		}
	}
}

// TestHandlerConfig: the zero Handler fails closed, bad fields are refused
// before any callback, and NoAuthentication must be asked for explicitly.
func TestHandlerConfig(t *testing.T) {
	echo := func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
		return &UserEventResponse{Data: []byte("ok")}, nil
	}
	for _, tc := range []struct {
		name     string
		h        *Handler
		unsigned bool   // drop ce-signature
		validate error  // what Validate returns (nil: no error)
		status   int    // the answer to a user event
		body     string // its whole body
	}{
		{name: "zero value refuses", h: &Handler{UserEvent: echo}, validate: ErrNoAuthenticator,
			status: 401, body: ErrNoAuthenticator.Error()},
		{name: "zero value refuses unsigned", h: &Handler{UserEvent: echo}, unsigned: true, validate: ErrNoAuthenticator,
			status: 401, body: ErrNoAuthenticator.Error()},
		{name: "keys", h: &Handler{Keys: NewKeys(testKey), UserEvent: echo}, status: 200, body: "ok"},
		{name: "keys unsigned", h: &Handler{Keys: NewKeys(testKey), UserEvent: echo}, unsigned: true,
			status: 401, body: "missing ce-signature header"},
		{name: "empty keys", h: &Handler{Keys: &Keys{}, UserEvent: echo}, status: 401, body: ErrNoKeys.Error()},
		{name: "no authentication", h: &Handler{Authenticator: NoAuthentication, UserEvent: echo}, unsigned: true, status: 200, body: "ok"},
		{name: "negative MaxBodyBytes", h: &Handler{Keys: NewKeys(testKey), MaxBodyBytes: -1, UserEvent: echo},
			validate: errAny, status: 500, body: "event handler is misconfigured: cloudevents: Handler.MaxBodyBytes is negative (-1)"},
		{name: "negative Timeout", h: &Handler{Keys: NewKeys(testKey), Timeout: -time.Second, UserEvent: echo},
			validate: errAny, status: 500, body: "event handler is misconfigured: cloudevents: Handler.Timeout is negative (-1s)"},
		{name: "keys and authenticator", h: &Handler{Keys: NewKeys(testKey), Authenticator: NoAuthentication, UserEvent: echo},
			validate: errAny, status: 500, body: "event handler is misconfigured: cloudevents: Handler has both Keys and Authenticator: combine them with AnyOf or AllOf"},
		{name: "origin without host", h: &Handler{Keys: NewKeys(testKey), AllowedOrigins: []string{"https://"}, UserEvent: echo},
			validate: errAny, status: 500, body: `event handler is misconfigured: cloudevents: Handler.AllowedOrigins: "https://" has no host`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.Logger = quietLogger()
			err := tc.h.Validate()
			switch {
			case tc.validate == nil && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.validate == errAny && err == nil, tc.validate != errAny && !errors.Is(err, tc.validate):
				t.Errorf("Validate: %v, want %v", err, tc.validate)
			}
			req := httptest.NewRequest("POST", "/", strings.NewReader("x"))
			for k, v := range signedHeaders(TypeUserPrefix + "message") {
				req.Header.Set(k, v)
			}
			if tc.unsigned {
				req.Header.Del("ce-signature")
			}
			rr := httptest.NewRecorder()
			tc.h.ServeHTTP(rr, req)
			if rr.Code != tc.status || rr.Body.String() != tc.body {
				t.Errorf("answer %d %q, want %d %q", rr.Code, rr.Body, tc.status, tc.body)
			}
		})
	}
}

// errAny in a table means "some error".
var errAny = errors.New("any error")
