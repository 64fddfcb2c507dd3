// Package hosts runs the real function binaries (cmd/<fn>, built with the
// Lambda release flags) on each host pkg/faas serves — AWS Lambda under the
// real Runtime Interface Emulator, the Azure Functions custom handler
// contract, and local mode — and drives them with signed Web PubSub
// CloudEvents built by pkg/cloudevents' service side, broadcasts, negotiate
// calls and scheduled events. Each binary talks to a local recording Web
// PubSub REST endpoint; the tests assert what the functions sent there and
// what they answered.
//
// The Azure Functions host cannot be installed on these machines (Core
// Tools fetch their runtime at install time), so the Azure cases play the
// host by its documented contract: FUNCTIONS_CUSTOMHANDLER_PORT, readiness
// on GET /, forwarded HTTP requests at /api/<name>, timer invocation
// payloads at POST /<name>.
package hosts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

const (
	accessKey       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="
	broadcastSecret = "broadcast-secret-0123456789"
	negotiateSecret = "negotiate-jwt-secret-0123456789"
	hub             = "chat"
)

func TestMain(m *testing.M) {
	code := m.Run()
	faastest.Cleanup()
	os.Exit(code)
}

// answer is a function's HTTP answer, whichever host carried it.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// host delivers one HTTP request to a function the way a platform does.
type host interface {
	do(t *testing.T, req *http.Request) answer
	name() string
}

type lambdaHost struct{ l *faastest.LambdaEmulator }

func (lambdaHost) name() string { return "lambda" }

func (h lambdaHost) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	// A function URL delivers every path; the event handler URL is the bare one.
	ev := faastest.URLEvent(req.Method, req.URL.Path, req.URL.RawQuery, req.Header, body)
	out := h.l.Invoke(t, ev)
	pre, b, err := faastest.DecodeStream(out)
	if err != nil {
		t.Fatalf("lambda answer: %v", err)
	}
	hdr := http.Header{}
	for k, v := range pre.Headers {
		hdr.Set(k, v)
	}
	return answer{pre.StatusCode, hdr, b}
}

type httpHost struct {
	kind, base, prefix string // prefix: "/api/<name>" for Azure forwarding
}

func (h httpHost) name() string { return h.kind }

func (h httpHost) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	u := h.base + h.prefix + req.URL.Path
	if req.URL.RawQuery != "" {
		u += "?" + req.URL.RawQuery
	}
	out, err := http.NewRequest(req.Method, u, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// env is every function's configuration, pointing at rec.
func env(rec *faastest.Recorder) []string {
	return []string{
		"WEBPUBSUB_CONNECTION_STRING=Endpoint=" + rec.URL + ";AccessKey=" + accessKey + ";Version=1.0;",
		"WEBPUBSUB_HUB=" + hub,
		"BROADCAST_SECRET=" + broadcastSecret,
		"NEGOTIATE_JWT_SECRET=" + negotiateSecret,
		"BROADCAST_SCHEDULE_TARGET=group:lobby",
	}
}

// binary builds cmd/<fn>; a missing main fails the test.
func binary(t *testing.T, fn string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(faastest.ModuleRoot(), "cmd", fn, "main.go")); err != nil {
		t.Fatalf("cmd/%s/main.go: %v", fn, err)
	}
	return faastest.MustBuild(t, "./cmd/"+fn)
}

// hostsFor starts fn's binary on every host, each with its own recorder.
func hostsFor(t *testing.T, fn string) map[host]*faastest.Recorder {
	t.Helper()
	bin := binary(t, fn)
	out := map[host]*faastest.Recorder{}

	rec := faastest.NewRecorder(t, 0)
	port := faastest.FreePort(t)
	p := faastest.Start(t, append(env(rec), "FUNCTIONS_CUSTOMHANDLER_PORT="+port), bin)
	base := "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second); err != nil {
		t.Fatalf("azure %s: %v\n%s", fn, err, p.Output())
	}
	out[httpHost{"azure", base, "/api/" + fn}] = rec

	rec = faastest.NewRecorder(t, 0)
	port = faastest.FreePort(t)
	p = faastest.Start(t, append(env(rec), "PORT="+port, "HOST=127.0.0.1"), bin)
	base = "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second); err != nil {
		t.Fatalf("local %s: %v\n%s", fn, err, p.Output())
	}
	out[httpHost{"local", base, ""}] = rec

	if rie := filepath.Join(faastest.ModuleRoot(), ".tools", "bin", "aws-lambda-rie"); fileExists(rie) || os.Getenv("CI") == "true" {
		rec = faastest.NewRecorder(t, 0)
		out[lambdaHost{faastest.StartRIE(t, bin, env(rec)...)}] = rec
	} else {
		t.Logf("aws-lambda-rie not built (make test-deps): Lambda host not tested")
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func signed(t *testing.T, ev cloudevents.Event) *http.Request {
	t.Helper()
	req, err := (&upstream.Caller{Keys: cloudevents.NewKeys(accessKey)}).NewRequest(context.Background(), "https://fn.example/", ev)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("WebHook-Request-Origin", "wpsfn.webpubsub.azure.com")
	return req
}

// sent decodes the one REST call rec got.
func sent(t *testing.T, rec *faastest.Recorder, wantPath string) map[string]any {
	t.Helper()
	got := rec.WaitN(t, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("REST calls = %+v, want one", got)
	}
	r := got[0]
	assert.Equal(t, "REST method", r.Method, "POST")
	assert.Equal(t, "REST path", r.Path, wantPath)
	assert.True(t, "REST call has a bearer token", strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "))
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("REST body %q: %v", r.Body, err)
	}
	return m
}

func TestConnect(t *testing.T) {
	t.Parallel()
	for h, rec := range hostsFor(t, "connect") {
		t.Run(h.name(), func(t *testing.T) {
			// Abuse protection.
			opt, err := http.NewRequest("OPTIONS", "https://fn.example/", nil)
			assert.Success(t, err)
			opt.Header.Set("WebHook-Request-Origin", "wpsfn.webpubsub.azure.com")
			a := h.do(t, opt)
			assert.Equal(t, "abuse protection status", a.Status, 200)
			origin := a.Header.Get("WebHook-Allowed-Origin")
			assert.True(t, "WebHook-Allowed-Origin is * or the service's origin", origin == "*" || origin == "wpsfn.webpubsub.azure.com")

			// connect: the user from the token's sub, the group asked for.
			a = h.do(t, signed(t, &cloudevents.ConnectRequest{
				ConnectionContext: cloudevents.ConnectionContext{Hub: hub, ConnectionID: "conn-1"},
				Claims:            map[string][]string{"sub": {"alice"}},
				Query:             map[string][]string{"group": {"room1"}},
				Subprotocols:      []string{"json.reliable.webpubsub.azure.v1"},
			}))
			var cr struct {
				UserID      string   `json:"userId"`
				Groups      []string `json:"groups"`
				Roles       []string `json:"roles"`
				Subprotocol string   `json:"subprotocol"`
			}
			assert.Equal(t, "connect status", a.Status, 200)
			assert.Success(t, json.Unmarshal(a.Body, &cr))
			assert.Equal(t, "connect userId", cr.UserID, "alice")
			assert.Equal(t, "connect groups", cr.Groups, []string{"room1"})
			assert.Equal(t, "connect subprotocol", cr.Subprotocol, "json.reliable.webpubsub.azure.v1")

			// A bad signature is refused and nothing reaches the service.
			bad := signed(t, &cloudevents.ConnectedRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: hub, ConnectionID: "conn-1", UserID: "alice"}})
			bad.Header.Set("Ce-Signature", "sha256=00")
			a = h.do(t, bad)
			assert.True(t, "bad signature answered 4xx", a.Status >= 400 && a.Status < 500)
			if n := len(rec.Requests()); n != 0 {
				t.Fatalf("REST calls after refusals: %d", n)
			}

			// connected: greeted through the REST API.
			a = h.do(t, signed(t, &cloudevents.ConnectedRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: hub, ConnectionID: "conn-1", UserID: "alice"}}))
			if a.Status/100 != 2 {
				t.Errorf("connected: %d %s", a.Status, a.Body)
			}
			m := sent(t, rec, "/api/hubs/chat/connections/conn-1/:send")
			assert.Equal(t, "greeting type", m["type"], any("system"))
			assert.Equal(t, "greeting text", m["text"], any("welcome alice"))
		})
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	for h, rec := range hostsFor(t, "message") {
		t.Run(h.name(), func(t *testing.T) {
			a := h.do(t, signed(t, &cloudevents.UserEventRequest{
				ConnectionContext: cloudevents.ConnectionContext{Hub: hub, ConnectionID: "conn-2", UserID: "bob", EventName: "message"},
				Data:              []byte(`{"room":"room1","text":"hello, room"}`),
				DataType:          cloudevents.DataJSON,
			}))
			var ack struct {
				OK bool   `json:"ok"`
				ID string `json:"id"`
			}
			assert.Equal(t, "ack status", a.Status, 200)
			assert.Success(t, json.Unmarshal(a.Body, &ack))
			assert.True(t, "ack ok", ack.OK)
			assert.True(t, "ack has an id", ack.ID != "")
			m := sent(t, rec, "/api/hubs/chat/groups/room1/:send")
			assert.Equal(t, "published type", m["type"], any("message"))
			assert.Equal(t, "published room", m["room"], any("room1"))
			assert.Equal(t, "published from", m["from"], any("bob"))
			assert.Equal(t, "published text", m["text"], any("hello, room"))
			stamp, _ := m["time"].(string)
			_, err := time.Parse(time.RFC3339, stamp)
			assert.Success(t, err)
		})
	}
}

func TestBroadcast(t *testing.T) {
	t.Parallel()
	for h, rec := range hostsFor(t, "broadcast") {
		t.Run(h.name(), func(t *testing.T) {
			req, err := http.NewRequest("POST", "https://fn.example/", strings.NewReader(`{"to":"group","id":"room1","json":{"note":"maintenance at noon"}}`))
			assert.Success(t, err)
			req.Header.Set("Content-Type", "application/json")
			if a := h.do(t, req); a.Status != 401 {
				t.Errorf("without a secret: %d %s", a.Status, a.Body)
			}
			if n := len(rec.Requests()); n != 0 {
				t.Fatalf("unauthorized broadcast reached the service")
			}
			req, err = http.NewRequest("POST", "https://fn.example/", strings.NewReader(`{"to":"group","id":"room1","json":{"note":"maintenance at noon"}}`))
			assert.Success(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+broadcastSecret)
			if a := h.do(t, req); a.Status/100 != 2 {
				t.Fatalf("broadcast: %d %s", a.Status, a.Body)
			}
			if m := sent(t, rec, "/api/hubs/chat/groups/room1/:send"); m["note"] != "maintenance at noon" {
				t.Errorf("sent %v", m)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(negotiateSecret))
	if err != nil {
		t.Fatal(err)
	}
	for h := range hostsFor(t, "negotiate") {
		t.Run(h.name(), func(t *testing.T) {
			req, err := http.NewRequest("GET", "https://fn.example/?userId=mallory", nil)
			assert.Success(t, err)
			if a := h.do(t, req); a.Status != 401 {
				t.Errorf("userId without a token: %d %s", a.Status, a.Body)
			}
			req, err = http.NewRequest("GET", "https://fn.example/", nil)
			assert.Success(t, err)
			req.Header.Set("Authorization", "Bearer "+tok)
			a := h.do(t, req)
			var r struct{ URL, BaseURL, Token string }
			assert.Equal(t, "negotiate status", a.Status, 200)
			assert.Success(t, json.Unmarshal(a.Body, &r))
			assert.Contains(t, "url", r.URL, "/client/hubs/chat")
			assert.Contains(t, "url", r.URL, "access_token="+r.Token)
			claims := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(r.Token, claims, func(*jwt.Token) (any, error) { return []byte(accessKey), nil }, jwt.WithValidMethods([]string{"HS256"})); err != nil {
				t.Fatalf("client token: %v", err)
			}
			if claims["sub"] != "carol" {
				t.Errorf("client token claims %v", claims)
			}
		})
	}
}

func TestBroadcastSchedule(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	bin := binary(t, "broadcast-schedule")
	check := func(t *testing.T, rec *faastest.Recorder) {
		t.Helper()
		m := sent(t, rec, "/api/hubs/chat/groups/lobby/:send")
		assert.Equal(t, "heartbeat type", m["type"], any("heartbeat"))
		stamp, _ := m["time"].(string)
		assert.True(t, "heartbeat at the scheduled time", strings.HasPrefix(stamp, "2026-11-27T05:00:00"))
	}
	t.Run("lambda", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		l := faastest.StartRIE(t, bin, env(rec)...)
		if out := l.Invoke(t, faastest.EventBridgeRuleEvent(at)); string(out) != "null" {
			t.Fatalf("answer %s", out)
		}
		check(t, rec)
		rec.Reset()
		if out := l.Invoke(t, `{"source":"wpsfn.schedule","time":"2026-11-27T05:00:00Z"}`); string(out) != "null" {
			t.Fatalf("scheduler input: %s", out)
		}
		check(t, rec)
	})
	t.Run("azure", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		port := faastest.FreePort(t)
		faastest.Start(t, append(env(rec), "FUNCTIONS_CUSTOMHANDLER_PORT="+port), bin)
		base := "http://127.0.0.1:" + port
		if err := faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(base+"/broadcast-schedule", "application/json", bytes.NewReader(faastest.AzureTimerPayload("broadcast-schedule", at)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Success(t, err)
		assert.Equal(t, "status", resp.StatusCode, 200)
		assert.True(t, "answer is JSON", json.Valid(b))
		assert.Contains(t, "answer", string(b), `"Outputs":{}`)
		check(t, rec)
		// The service failing fails the invocation (non-2xx) with the reason logged.
		rec.Reset()
		failing := faastest.NewRecorder(t, http.StatusInternalServerError)
		port = faastest.FreePort(t)
		faastest.Start(t, append(env(failing), "FUNCTIONS_CUSTOMHANDLER_PORT="+port), bin)
		base = "http://127.0.0.1:" + port
		assert.Success(t, faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second))
		resp, err = http.Post(base+"/broadcast-schedule", "application/json", bytes.NewReader(faastest.AzureTimerPayload("broadcast-schedule", at)))
		if err != nil {
			t.Fatal(err)
		}
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Success(t, err)
		assert.Equal(t, "failing service: status", resp.StatusCode, 500)
		assert.Contains(t, "failing service: answer", string(b), "broadcast-schedule")
		assert.NotContains(t, "failing service: answer", string(b), accessKey)
	})
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		port := faastest.FreePort(t)
		faastest.Start(t, append(env(rec), "PORT="+port, "HOST=127.0.0.1"), bin)
		base := "http://127.0.0.1:" + port
		if err := faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(base+"/", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Errorf("POST / = %d", resp.StatusCode)
		}
		m := sent(t, rec, "/api/hubs/chat/groups/lobby/:send")
		assert.Equal(t, "heartbeat type", m["type"], any("heartbeat"))
	})
}

func TestMissingConfigOneLine(t *testing.T) {
	t.Parallel()
	bin := binary(t, "message")
	p := faastest.Start(t, []string{"WEBPUBSUB_HUB=chat", "WEBPUBSUB_CONNECTION_STRING=Endpoint=http://127.0.0.1:1;AccessKey=" + accessKey + ";Version=1.0;", "MESSAGE_MAX_BYTES=lots"}, bin)
	<-p.Done()
	out := strings.TrimSpace(p.Output())
	assert.True(t, "exit status is not 0", p.Cmd.ProcessState.ExitCode() != 0)
	assert.Equal(t, "lines of output", strings.Count(out, "\n")+1, 1)
	assert.Contains(t, "output", out, "MESSAGE_MAX_BYTES")
	assert.NotContains(t, "output", out, accessKey)
}
