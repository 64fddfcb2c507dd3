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

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 9, 24, 13, 8, 0, 9_603_500, time.UTC)
	for _, s := range []string{
		"2026-09-24T13:08:00.0096035+00:00",
		"2026-09-24T13:08:00.0096035Z",
		"2026-09-24T15:08:00.0096035+02:00",
		"2026-09-24T13:08:00.0096035",
		"2026-09-24 13:08:00.0096035Z",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	whole := time.Date(2026, 9, 24, 13, 8, 0, 0, time.UTC)
	for _, s := range []string{"9/24/2026 1:08:00 PM", "09/24/2026 13:08:00", "/Date(1790255280000)/", "/Date(1790255280000+0200)/", " 2026-09-24T13:08:00Z "} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(whole) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "yesterday", "/Date(abc)/", "2026-13-40T00:00:00Z"} {
		if _, err := ParseTime(s); err == nil {
			t.Errorf("ParseTime(%q) succeeded", s)
		}
	}
}

func TestParseLambdaSchedule(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev, err := ParseLambdaSchedule([]byte(`{"detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-27T05:00:00Z","detail":{}}`), now)
	if err != nil || !ev.Time.Equal(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)) || ev.Source != "lambda" {
		t.Errorf("rule: %+v %v", ev, err)
	}
	ev, err = ParseLambdaSchedule([]byte(`{"time":"<aws.scheduler.scheduled-tim>"}`), now)
	if err != nil || !ev.Time.Equal(now) {
		t.Errorf("unresolved placeholder: %+v %v", ev, err)
	}
	for _, bad := range []string{``, `null`, `"x"`, `[1]`, `{"time":5}`, `{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"POST"}}}`} {
		_, err := ParseLambdaSchedule([]byte(bad), now)
		var pe *PayloadError
		if !errors.As(err, &pe) || pe.Host != HostLambda {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestParseAzureTimer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	raw := `{"Data":{"myTimer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-27T04:55:00.0000000+00:00","Next":"2026-11-27T05:05:00.0000000+00:00","LastUpdated":"2026-11-27T04:55:00.0000000+00:00"},"IsPastDue":true}},"Metadata":{"sys":{"MethodName":"broadcast-schedule","UtcNow":"2026-11-27T05:00:00.5000000Z"}}}`
	ev, timer, err := ParseAzureTimer([]byte(raw), now)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Time.Equal(time.Date(2026, 11, 27, 5, 0, 0, 500_000_000, time.UTC)) || ev.Source != "azure" || string(ev.Raw) != raw {
		t.Errorf("event %+v", ev)
	}
	if !timer.IsPastDue || !timer.Schedule.AdjustForDST || timer.ScheduleStatus == nil || timer.ScheduleStatus.Next != "2026-11-27T05:05:00.0000000+00:00" {
		t.Errorf("timer %+v", timer)
	}
	// Whole payload as a JSON string, lower-case keys, no sys: time is now.
	ev, _, err = ParseAzureTimer([]byte(`"{\"data\":{\"t\":{}},\"metadata\":{}}"`), now)
	if err != nil || !ev.Time.Equal(now) {
		t.Errorf("lenient: %+v %v", ev, err)
	}
	// Top-level UtcNow metadata (older hosts).
	ev, _, _ = ParseAzureTimer([]byte(`{"Data":{},"Metadata":{"UtcNow":"11/27/2026 5:00:00 AM"}}`), now)
	if !ev.Time.Equal(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("UtcNow: %v", ev.Time)
	}
	for _, bad := range []string{``, `[]`, `{"Data":[1]}`, `{"Metadata":"not json"}`, `"{"`} {
		if _, _, err := ParseAzureTimer([]byte(bad), now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseAzureTimer(f *testing.F) {
	f.Add([]byte(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{"sys":{"UtcNow":"2026-11-27T05:00:00.0096035+00:00"}}}`))
	f.Add([]byte(`{"Data":{"timer":"{\"ScheduleStatus\":null}"},"Metadata":"{\"sys\":{\"UtcNow\":\"/Date(1)/\"}}"}`))
	f.Add([]byte(`"{\"Data\":{}}"`))
	f.Add([]byte(`{"Data":{"req":{"Url":"http://x/api/a","Method":"GET"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, _, err := ParseAzureTimer(b, time.Unix(0, 0))
		if err == nil && (ev.Source != "azure" || ev.Time.IsZero()) {
			t.Errorf("accepted with %+v", ev)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	})
}

func FuzzParseLambdaSchedule(f *testing.F) {
	f.Add([]byte(`{"detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-27T05:00:00Z"}`))
	f.Add([]byte(`{"time":"2026-11-27T05:00:00.123+01:00","task":"x"}`))
	f.Add([]byte(`{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseLambdaSchedule(b, time.Unix(0, 0))
		if err == nil && (ev.Source != "lambda" || !json.Valid(ev.Raw)) {
			t.Errorf("accepted with %+v", ev)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-09-24T13:08:00.0096035+00:00", "9/24/2026 1:08:00 PM", "/Date(1790255280000+0200)/", "/Date(-5)/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, err := ParseTime(s); err == nil && tm.Location() != time.UTC {
			t.Errorf("%q: not UTC", s)
		}
	})
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

	resp, err := http.Post(base+"/", "application/json", strings.NewReader(`{"task":"x"}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /: %v %v", resp, err)
	}
	resp, _ = http.Post(base+"/", "text/plain", strings.NewReader(`not json`))
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("text POST: %d", resp.StatusCode)
	}
	resp, _ = http.Post(base+"/", "application/json", strings.NewReader(`"fail"`))
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(b), "told to fail") {
		t.Errorf("failure: %d %s", resp.StatusCode, b)
	}
	resp, _ = http.Get(base + "/")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	mu.Lock()
	if len(got) != 3 || string(got[0].Raw) != `{"task":"x"}` || string(got[1].Raw) != `"not json"` || got[0].Source != "local" || time.Since(got[0].Time) > time.Minute {
		t.Errorf("function got %+v", got)
	}
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
	ran := make(chan ScheduleEvent, 1)
	fn := Function{Name: "both",
		HTTP:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "http "+r.URL.Path) }),
		Scheduled: func(ctx context.Context, ev ScheduleEvent) error { ran <- ev; return nil },
	}
	srv := httptest.NewServer(localHandler(fn))
	defer srv.Close()
	resp, _ := http.Post(srv.URL+"/x", "", nil)
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "http /x" {
		t.Errorf("HTTP: %s", b)
	}
	resp, _ = http.Post(srv.URL+"/_schedule", "", nil)
	if resp.StatusCode != 204 || len(ran) != 1 {
		t.Errorf("schedule: %d", resp.StatusCode)
	}
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
		ran <- ev
		return nil
	}}
	srv := httptest.NewServer(newAzureHandler(fn))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/tick", "application/json", strings.NewReader(`{"Data":{"t":"{}"},"Metadata":{"sys":{"UtcNow":"2026-11-27T05:00:00Z"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var a AzureResponse
	json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != 200 || a.Outputs == nil || a.ReturnValue != nil {
		t.Errorf("%d %+v", resp.StatusCode, a)
	}
	if ev := <-ran; !ev.Time.Equal(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("time %v", ev.Time)
	}
	resp, _ = http.Post(srv.URL+"/api/tick", "", nil)
	if resp.StatusCode != 404 {
		t.Errorf("scheduled-only function has no /api route: %d", resp.StatusCode)
	}
}

func TestRecoverHTTP(t *testing.T) {
	h := recoverHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("%d %q", rec.Code, rec.Body)
	}
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
		var a AzureResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Outputs == nil || a.Logs == nil {
			t.Errorf("answer %q: %v", rec.Body, err)
		}
	})
}

func TestAzureHTTPFunctionRejectsTimerPayload(t *testing.T) {
	srv := httptest.NewServer(newAzureHandler(Function{Name: "connect", HTTP: http.NotFoundHandler()}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/connect", "application/json", strings.NewReader(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	var a AzureResponse
	json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != 400 || len(a.Logs) != 1 || !strings.Contains(a.Logs[0], "carries no HTTP trigger data") {
		t.Errorf("%d %+v", resp.StatusCode, a)
	}
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
