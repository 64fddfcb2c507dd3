package faas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

func TestDetectHost(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want Host
	}{
		{map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, HostLambda},
		{map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "34567"}, HostAzure},
		{map[string]string{"AWS_LAMBDA_RUNTIME_API": "x", "FUNCTIONS_CUSTOMHANDLER_PORT": "1"}, HostLambda},
		{map[string]string{"PORT": "8080", "K_SERVICE": "connect"}, HostLocal},
		{nil, HostLocal},
	} {
		if got := DetectHost(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestHostText(t *testing.T) {
	for _, h := range []Host{HostLocal, HostLambda, HostAzure, HostGCP} {
		t.Run(h.String(), func(t *testing.T) {
			b, err := h.MarshalText()
			assert.Success(t, err)
			var back Host
			assert.Success(t, back.UnmarshalText(b))
			assert.Equal(t, "round trip", back, h)
		})
	}
	assert.Equal(t, "zero value", Host(0), HostLocal)
	assert.Equal(t, "unknown", Host(9).String(), "Host(9)")
	_, err := Host(9).MarshalText()
	assert.Error(t, err)
	var h Host
	assert.Error(t, h.UnmarshalText([]byte("aws")))
	b, err := json.Marshal(ScheduleEvent{Host: HostGCP})
	assert.Success(t, err)
	assert.Contains(t, "JSON", string(b), `"Host":"gcp"`)
}

func TestLambdaScheduleEvent(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	raw := `{"detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-27T05:00:00Z","detail":{}}`
	ev, err := lambdaScheduleEvent([]byte(raw), now)
	assert.Success(t, err)
	assert.Equal(t, "time", ev.Time, time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC))
	assert.Equal(t, "host", ev.Host, HostLambda)
	assert.Equal(t, "raw", string(ev.Raw), raw)
	ev, err = lambdaScheduleEvent([]byte(`{"task":"x"}`), now)
	assert.Success(t, err)
	assert.Equal(t, "time without one in the event", ev.Time, now)
	_, err = lambdaScheduleEvent([]byte(`[1]`), now)
	var pe *PayloadError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PayloadError", err)
	}
	assert.Equal(t, "host", pe.Host, HostLambda)
	assert.Contains(t, "error", err.Error(), "faas: bad lambda payload: scheduled event is not a JSON object")
}

func TestAzureScheduleEvent(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, raw string
		want      time.Time
	}{
		{"host time", `{"Data":{"t":{}},"Metadata":{"sys":{"UtcNow":"2026-11-27T05:00:00.5Z"}}}`, time.Date(2026, 11, 27, 5, 0, 0, 500_000_000, time.UTC)},
		{"no time", `{"input":""}`, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := decodeAzure([]byte(tc.raw))
			assert.Success(t, err)
			ev := azureScheduleEvent(inv, []byte(tc.raw), now)
			assert.Equal(t, "time", ev.Time, tc.want)
			assert.Equal(t, "host", ev.Host, HostAzure)
			assert.Equal(t, "raw", string(ev.Raw), tc.raw)
		})
	}
	_, err := decodeAzure([]byte(`[]`))
	var pe *PayloadError
	if !errors.As(err, &pe) || pe.Host != HostAzure {
		t.Errorf("err = %v, want an azure *PayloadError", err)
	}
}

func TestServeLocal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []ScheduleEvent
	fn := Function{Name: "broadcast-schedule", Scheduled: func(ctx context.Context, ev ScheduleEvent) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
		if strings.Contains(string(ev.Raw), "fail") {
			return errors.New("told to fail")
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, fn) }()
	base := "http://" + ln.Addr().String()

	resp, _ := call(t, "POST", base+"/", "application/json", `{"task":"x"}`)
	assert.Equal(t, "JSON POST status", resp.StatusCode, http.StatusNoContent)
	resp, _ = call(t, "POST", base+"/", "text/plain", `not json`)
	assert.Equal(t, "text POST status", resp.StatusCode, http.StatusNoContent)
	resp, body := call(t, "POST", base+"/", "application/json", `"fail"`)
	assert.Equal(t, "failing run status", resp.StatusCode, http.StatusInternalServerError)
	assert.Contains(t, "failing run body", body, "told to fail")
	resp, _ = call(t, "GET", base+"/", "", "")
	assert.Equal(t, "GET status", resp.StatusCode, http.StatusMethodNotAllowed)
	assert.Equal(t, "Allow", resp.Header.Get("Allow"), "POST")
	mu.Lock()
	if len(got) != 3 {
		t.Fatalf("function ran %d times, want 3: %+v", len(got), got)
	}
	assert.Equal(t, "raw JSON", string(got[0].Raw), `{"task":"x"}`)
	assert.Equal(t, "raw text as a JSON string", string(got[1].Raw), `"not json"`)
	assert.Equal(t, "host", got[0].Host, HostLocal)
	assert.True(t, "time is now", time.Since(got[0].Time) < time.Minute)
	mu.Unlock()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestServeBoth(t *testing.T) {
	var logs syncbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	defer slog.SetDefault(old)
	ran := make(chan ScheduleEvent, 1)
	fn := Function{Name: "both",
		HTTP:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "http "+r.URL.Path) }),
		Scheduled: func(ctx context.Context, ev ScheduleEvent) error { ran <- ev; return nil },
	}
	srv := httptest.NewServer(Handler(fn, HostLocal))
	defer srv.Close()
	_, body := call(t, "POST", srv.URL+"/x", "", "")
	assert.Equal(t, "HTTP answer", body, "http /x")
	resp, _ := call(t, "POST", srv.URL+"/_schedule", "", "")
	assert.Equal(t, "schedule status", resp.StatusCode, http.StatusNoContent)
	assert.Equal(t, "scheduled runs", len(ran), 1)
	// The run's log line says which function ran (wpsfn dev serves several).
	assert.Contains(t, "log", logs.String(), `"msg":"scheduled run","function":"both","from":"local"`)
}

// `wpsfn dev` serves five functions in one process: each shutdown line says
// which one it is.
func TestServeShutdownNamesFunction(t *testing.T) {
	var logs syncbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	defer slog.SetDefault(old)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.Success(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Function{Name: "negotiate", HTTP: http.NotFoundHandler()}) }()
	cancel()
	assert.Success(t, <-done)
	assert.Contains(t, "log", logs.String(), `"msg":"shutting down","function":"negotiate","mode":"local"`)
}

func TestServeInvalid(t *testing.T) {
	for _, fn := range []Function{{}, {Name: "x"}, {Name: "a/b", HTTP: http.NotFoundHandler()}} {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		if err := Serve(context.Background(), ln, fn); !errors.Is(err, ErrInvalidFunction) {
			t.Errorf("%+v: %v", fn, err)
		}
	}
}

func TestAzureHandlerInProcess(t *testing.T) {
	ran := make(chan ScheduleEvent, 1)
	fn := Function{Name: "tick", Scheduled: func(ctx context.Context, ev ScheduleEvent) error {
		if ev.Time.IsZero() {
			panic("zero time")
		}
		if inv, ok := azurefn.FromContext(ctx); !ok || inv.Data["t"] == nil {
			panic("no invocation in the context")
		}
		ran <- ev
		return nil
	}}
	srv := httptest.NewServer(newAzureHandler(fn))
	defer srv.Close()
	resp, body := call(t, "POST", srv.URL+"/tick", "application/json", `{"Data":{"t":"{}"},"Metadata":{"sys":{"UtcNow":"2026-11-27T05:00:00Z"}}}`)
	var a azurefn.Response
	assert.Success(t, json.Unmarshal([]byte(body), &a))
	assert.Equal(t, "status", resp.StatusCode, http.StatusOK)
	assert.True(t, "Outputs present", a.Outputs != nil)
	assert.Equal(t, "ReturnValue", a.ReturnValue, nil)
	if ev := <-ran; !ev.Time.Equal(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("time %v", ev.Time)
	}
	resp, _ = call(t, "POST", srv.URL+"/api/tick", "", "")
	assert.Equal(t, "a scheduled-only function has no /api route", resp.StatusCode, http.StatusNotFound)
}

// An HTTP function deployed with extra bindings reads them from its
// request's context.
func TestAzureInvocationInContext(t *testing.T) {
	h := newAzureHandler(Function{Name: "negotiate", HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inv, ok := azurefn.FromContext(r.Context())
		var conn struct {
			URL string `json:"url"`
		}
		if !ok || !inv.Binding("connection", &conn) {
			http.Error(w, "no invocation", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, conn.URL)
	})})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/negotiate", strings.NewReader(
		`{"Data":{"req":{"Url":"http://h/api/negotiate","Method":"GET"},"connection":{"url":"wss://h/client"}},"Metadata":{}}`)))
	var a struct {
		Outputs struct {
			Res struct {
				StatusCode string `json:"statusCode"`
				Body       string `json:"body"`
			} `json:"res"`
		}
	}
	assert.Success(t, json.Unmarshal(rec.Body.Bytes(), &a))
	assert.Equal(t, "status", a.Outputs.Res.StatusCode, "200")
	assert.Equal(t, "body", a.Outputs.Res.Body, "wss://h/client")
}

func TestLambdaEventInContext(t *testing.T) {
	raw := json.RawMessage(`{"task":"sweep"}`)
	var got json.RawMessage
	h := lambdaScheduleHandler(Function{Name: "tick", Scheduled: func(ctx context.Context, ev ScheduleEvent) error {
		got, _ = lambdafn.EventFromContext(ctx)
		return nil
	}})
	assert.Success(t, h(t.Context(), raw))
	assert.Equal(t, "event", string(got), string(raw))
}

func TestRecoverHTTP(t *testing.T) {
	h := recoverHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, "status", rec.Code, http.StatusInternalServerError)
	assert.True(t, "the panic value is not shown", !strings.Contains(rec.Body.String(), "boom"))
}

func FuzzAzureInvocation(f *testing.F) {
	f.Add([]byte(`{"Data":{"req":{"Url":"http://h/api/fn?a=1","Method":"POST","Headers":{"A":["b"]},"Body":"x"}},"Metadata":{}}`))
	f.Add([]byte(`{"Data":{"req":"{\"Url\":\"http://h/api/fn\",\"Method\":\"GET\",\"Body\":{\"k\":1}}"}}`))
	f.Add([]byte(`{"Data":{"timer":{"IsPastDue":true}},"Metadata":{"sys":{"UtcNow":"2026-11-27T05:00:00Z"}}}`))
	f.Add([]byte(`{"Data":{"req":{"Url":"::","Method":"GET"}}}`))
	fn := Function{Name: "fn",
		HTTP:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }),
		Scheduled: func(ctx context.Context, ev ScheduleEvent) error { return nil },
	}
	h := newAzureHandler(fn)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/fn", bytes.NewReader(b)))
		if rec.Code != 200 && rec.Code != 400 {
			t.Errorf("status %d for %q", rec.Code, b)
		}
		var a azurefn.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Outputs == nil || a.Logs == nil {
			t.Errorf("answer %q: %v", rec.Body, err)
		}
	})
}

func TestAzureHTTPFunctionRejectsTimerPayload(t *testing.T) {
	srv := httptest.NewServer(newAzureHandler(Function{Name: "connect", HTTP: http.NotFoundHandler()}))
	defer srv.Close()
	resp, body := call(t, "POST", srv.URL+"/connect", "application/json", `{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`)
	var a azurefn.Response
	assert.Success(t, json.Unmarshal([]byte(body), &a))
	assert.Equal(t, "status", resp.StatusCode, http.StatusBadRequest)
	if len(a.Logs) != 1 {
		t.Fatalf("Logs = %q, want one line", a.Logs)
	}
	assert.Contains(t, "log line", a.Logs[0], "carries no HTTP trigger data")
}

// Through an HTTP output binding (no request forwarding) the answer's body
// travels as a JSON string: text arrives whole, and a binary answer that it
// would alter is replaced by a 500 that says why, with a log line.
func TestAzureOutputBindingBody(t *testing.T) {
	var logs strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	body := []byte("héllo")
	h := newAzureHandler(Function{Name: "fn", HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})})
	invoke := func() (status string, answer string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/fn", strings.NewReader(`{"Data":{"req":{"Url":"http://h/api/fn","Method":"GET"}},"Metadata":{}}`)))
		var a struct {
			Outputs struct {
				Res struct {
					StatusCode string `json:"statusCode"`
					Body       string `json:"body"`
				} `json:"res"`
			}
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("invocation answer %d %s", rec.Code, rec.Body)
		}
		return a.Outputs.Res.StatusCode, a.Outputs.Res.Body
	}
	if status, got := invoke(); status != "200" || got != "héllo" {
		t.Errorf("text answer: %s %q", status, got)
	}
	body = []byte{0xff, 0x00, 0x80, 'a'}
	status, got := invoke()
	if status != "500" || !strings.Contains(got, "4 bytes of binary data") || !strings.Contains(got, "enableForwardingHttpRequest") {
		t.Errorf("binary answer: %s %q", status, got)
	}
	if !strings.Contains(logs.String(), "answer not deliverable") {
		t.Errorf("no log line: %q", logs.String())
	}
}

// call makes one request, fails t on a transport error, and returns the
// response with its body read and closed.
func call(t *testing.T, method, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	assert.Success(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	assert.Success(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	assert.Success(t, err)
	return resp, string(b)
}
