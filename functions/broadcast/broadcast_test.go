package broadcast

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/functions/internal/wpsrec"
)

const (
	secret    = "plain-secret-0123456789"
	jwtSecret = "jwt-secret-0123456789abcdef"
)

func newBroadcast(t *testing.T, mod func(*Config)) (http.Handler, *wpsrec.Recorder, *bytes.Buffer) {
	t.Helper()
	rec := wpsrec.New(t)
	var logs bytes.Buffer
	cfg := Config{
		ConnectionString: rec.ConnectionString(),
		Hub:              "chat",
		Secret:           secret,
		JWTSecret:        jwtSecret,
		JWTIssuer:        "ops",
		JWTAudience:      "broadcast",
		MaxBodyBytes:     1024,
		AllowedTargets:   []string{"all", "user", "group", "connection"},
		Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, &logs
}

func post(h http.Handler, auth, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/api/broadcast", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func token(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBroadcastSends(t *testing.T) {
	h, rec, logs := newBroadcast(t, nil)
	cases := []struct {
		body string
		want wpsrec.Request
		res  string
	}{
		{`{"to":"all","text":"hello everyone"}`,
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/:send", RawQuery: "api-version=2024-12-01", ContentType: "text/plain", Body: "hello everyone"},
			`{"to":"all","type":"text","bytes":14}`},
		{`{"to":"group","id":"room 1/ä","json":{"type":"notice", "n": 1}}`,
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/groups/room%201%2F%C3%A4/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: `{"type":"notice","n":1}`},
			`{"to":"group","id":"room 1/ä","type":"json","bytes":23}`},
		{`{"to":"user","id":"o'brien","binary":"AQID/w=="}`,
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/users/o'brien/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/octet-stream", Body: "\x01\x02\x03\xff"},
			`{"to":"user","id":"o'brien","type":"binary","bytes":4}`},
		{`{"to":"connection","id":"conn-1","json":null}`,
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/connections/conn-1/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: `null`},
			`{"to":"connection","id":"conn-1","type":"json","bytes":4}`},
		{`{"to":"group","id":"lobby","text":"hi","ttl":30,"filter":"userId ne 'bob'","excluded":["c1","c 2"]}`,
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/groups/lobby/:send", RawQuery: "api-version=2024-12-01&excluded=c1&excluded=c%202&filter=userId%20ne%20%27bob%27&messageTtlSeconds=30", ContentType: "text/plain", Body: "hi"},
			`{"to":"group","id":"lobby","type":"text","bytes":2}`},
		{`{"to":"all","text":""}`,
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/:send", RawQuery: "api-version=2024-12-01", ContentType: "text/plain", Body: ""},
			`{"to":"all","type":"text","bytes":0}`},
	}
	for _, c := range cases {
		rec.Reset()
		w := post(h, "Bearer "+secret, c.body)
		if w.Code != http.StatusAccepted || strings.TrimSpace(w.Body.String()) != c.res || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q, want 202 %s", c.body, w.Code, w.Body, c.res)
		}
		got := rec.Requests()
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: sent %+v\nwant %+v", c.body, got, c.want)
		}
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), wpsrec.AccessKey) {
		t.Fatalf("logs leak a secret:\n%s", logs)
	}
}

func TestBroadcastAuth(t *testing.T) {
	h, rec, logs := newBroadcast(t, nil)
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "ops", "aud": "broadcast", "sub": "cron", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	body := `{"to":"all","text":"x"}`
	cases := []struct {
		name, auth string
		status     int
		reason     string
	}{
		{"secret", "Bearer " + secret, 202, ""},
		{"jwt", "Bearer " + token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(nil)), 202, ""},
		{"jwt aud list", "Bearer " + token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", "broadcast"} })), 202, ""},
		{"no header", "", 401, "missing Authorization header"},
		{"basic", "Basic " + secret, 401, "Authorization scheme must be Bearer"},
		{"wrong secret", "Bearer " + secret + "x", 401, "invalid bearer secret"},
		{"expired", "Bearer " + token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), 401, "token expired"},
		{"alg none", "Bearer " + none, 401, "token signature or algorithm invalid (HS256 expected)"},
		{"wrong jwt secret", "Bearer " + token(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789"), claims(nil)), 401, "token signature or algorithm invalid (HS256 expected)"},
		{"wrong aud", "Bearer " + token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { c["aud"] = "negotiate" })), 401, "token audience not accepted"},
		{"wrong iss", "Bearer " + token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { c["iss"] = "someone" })), 401, "token issuer not accepted"},
		{"no exp", "Bearer " + token(t, jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { delete(c, "exp") })), 401, "token lacks the required exp claim"},
		{"jwt secret as bearer", "Bearer " + jwtSecret, 401, "invalid bearer secret"},
	}
	for _, c := range cases {
		rec.Reset()
		w := post(h, c.auth, body)
		if w.Code != c.status {
			t.Errorf("%s: status %d %s, want %d", c.name, w.Code, w.Body, c.status)
			continue
		}
		sent := len(rec.Requests())
		if c.status != 202 {
			var e struct{ Error string }
			json.Unmarshal(w.Body.Bytes(), &e)
			if e.Error != c.reason || w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s: body %s, want reason %q and WWW-Authenticate", c.name, w.Body, c.reason)
			}
			if sent != 0 {
				t.Errorf("%s: refused but sent %d REST calls", c.name, sent)
			}
		} else if sent != 1 {
			t.Errorf("%s: sent %d REST calls, want 1", c.name, sent)
		}
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), jwtSecret) {
		t.Fatalf("logs leak a secret:\n%s", logs)
	}
}

func TestBroadcastBadInput(t *testing.T) {
	h, rec, _ := newBroadcast(t, func(c *Config) { c.AllowedTargets = []string{"all", "group", "user"}; c.MaxBodyBytes = 4096 })
	cases := []struct {
		body   string
		status int
		reason string
	}{
		{``, 400, "body is not a valid message envelope: empty body"},
		{`{"to":"all","text":"x"`, 400, "body is not a valid message envelope: unexpected end of JSON"},
		{`[1]`, 400, `body is not a valid message envelope: not a JSON object`},
		{`{"to":"all","text":"x"} {}`, 400, "body holds more than one JSON value"},
		{`{"to":"all","text":"x","extra":1}`, 400, `body is not a valid message envelope: unknown field "extra"`},
		{`{"to":"all","text":5}`, 400, `body is not a valid message envelope: field "text" must be a string`},
		{`{"text":"x"}`, 400, `"to" is required: all, user, group or connection`},
		{`{"to":"room","id":"a","text":"x"}`, 400, `"to" must be all, user, group or connection, not "room"`},
		{`{"to":"connection","id":"c","text":"x"}`, 400, `"to": connection is not allowed here`},
		{`{"to":"all","id":"a","text":"x"}`, 400, `"id" must be empty when "to" is all`},
		{`{"to":"group","text":"x"}`, 400, `"id" is required when "to" is group`},
		{`{"to":"group","id":"   ","text":"x"}`, 400, `"id" is only whitespace`},
		{`{"to":"user","id":"a\u0000b","text":"x"}`, 400, `"id" holds a control character`},
		{`{"to":"user","id":"` + strings.Repeat("u", 1025) + `","text":"x"}`, 400, `"id" is longer than 1024 bytes`},
		{`{"to":"all"}`, 400, `one of "text", "json" or "binary" is required`},
		{`{"to":"all","text":"x","json":{}}`, 400, `only one of "text", "json" or "binary" may be given`},
		{`{"to":"all","binary":"***"}`, 400, `"binary" is not valid base64 (standard alphabet, padded)`},
		{`{"to":"all","text":"` + strings.Repeat("x", 5000) + `"}`, 413, "body larger than 4096 bytes"},
	}
	for _, c := range cases {
		w := post(h, "Bearer "+secret, c.body)
		var e struct{ Error string }
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != c.status || e.Error != c.reason {
			t.Errorf("%.60s: %d %q, want %d %q", c.body, w.Code, e.Error, c.status, c.reason)
		}
	}
	// Invalid UTF-8 inside a JSON string is replaced by the decoder, so it
	// cannot reach the service as is; the raw byte case:
	w := post(h, "Bearer "+secret, "{\"to\":\"all\",\"text\":\"\xff\"}")
	if w.Code != 202 || rec.Requests()[0].Body != "\uFFFD" {
		t.Errorf("invalid UTF-8: %d %s %+v", w.Code, w.Body, rec.Requests())
	}
	rec.Reset()

	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"to":"all","text":"x"}`))
	r.Header.Set("Authorization", "Bearer "+secret)
	r.Header.Set("Content-Type", "text/plain")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", w.Code)
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodOptions} {
		r := httptest.NewRequest(m, "/", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
			t.Errorf("%s: %d Allow=%q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("bad input sent %d REST calls", n)
	}
}

func TestBroadcastServiceFailure(t *testing.T) {
	h, rec, _ := newBroadcast(t, nil)
	rec.Fail(http.StatusForbidden)
	w := post(h, "Bearer "+secret, `{"to":"group","id":"g","text":"x"}`)
	if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "Web PubSub answered 403") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if n := len(rec.Requests()); n != 1 {
		t.Fatalf("%d calls; a 403 must not be retried", n)
	}
}

func TestSchedule(t *testing.T) {
	rec := wpsrec.New(t)
	tick := time.Date(2026, 11, 27, 5, 0, 0, 123e6, time.FixedZone("x", 3600))
	cases := []struct {
		target, message, ctype string
		want                   wpsrec.Request
	}{
		{"all", DefaultScheduleMessage, "json",
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: `{"type":"heartbeat","time":"2026-11-27T04:00:00.123Z"}`}},
		{"group:lobby", `{"type":"tick", "unix": {{.Unix}}, "hub": "{{.Hub}}"}`, "json",
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/groups/lobby/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: `{"type":"tick","unix":1795752000,"hub":"chat"}`}},
		{"user:alice", "tick {{.UnixMilli}}", "text",
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/users/alice/:send", RawQuery: "api-version=2024-12-01", ContentType: "text/plain", Body: "tick 1795752000123"}},
		{"connection:c/1", "ping", "text",
			wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/connections/c%2F1/:send", RawQuery: "api-version=2024-12-01", ContentType: "text/plain", Body: "ping"}},
	}
	for _, c := range cases {
		rec.Reset()
		f, err := NewSchedule(ScheduleConfig{ConnectionString: rec.ConnectionString(), Hub: "chat", Target: c.target, Message: c.message, ContentType: c.ctype,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := f(context.Background(), tick); err != nil {
			t.Fatal(err)
		}
		if got := rec.Requests(); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: sent %+v\nwant %+v", c.target, got, c.want)
		}
	}
	rec.Fail(http.StatusNotFound)
	f, _ := NewSchedule(ScheduleConfig{ConnectionString: rec.ConnectionString(), Hub: "chat", Target: "all", Message: "x", ContentType: "text", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := f(context.Background(), tick); err == nil {
		t.Fatal("a failed send must fail the tick")
	}
	if _, err := NewSchedule(ScheduleConfig{ConnectionString: rec.ConnectionString(), Hub: "chat", Target: "everyone", Message: "x", ContentType: "text"}); err == nil || !strings.Contains(err.Error(), "BROADCAST_SCHEDULE_TARGET") {
		t.Fatalf("bad target: %v", err)
	}
}

func TestMinimalConfigs(t *testing.T) {
	rec := wpsrec.New(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(Config{ConnectionString: rec.ConnectionString(), Hub: "chat", Secret: secret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if w := post(h, "Bearer "+secret, `{"to":"connection","id":"c","text":"x"}`); w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	tick, err := NewSchedule(ScheduleConfig{ConnectionString: rec.ConnectionString(), Hub: "chat", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := tick(context.Background(), time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	got := rec.Requests()
	if len(got) != 2 || got[1].Path != "/api/hubs/chat/:send" || got[1].Body != `{"type":"heartbeat","time":"1970-01-01T00:00:00.000Z"}` {
		t.Fatalf("%+v", got)
	}
	if _, err := New(Config{ConnectionString: rec.ConnectionString(), Hub: "chat"}); err == nil || !strings.Contains(err.Error(), "BROADCAST_SECRET") {
		t.Fatalf("no credential: %v", err)
	}
}
