package faas_test

// Host tests: the testfn binary (pkg/faas/testdata/testfn), built with the
// Lambda release flags, run as each host runs it. Lambda: under the real
// Runtime Interface Emulator. Azure: the Functions host itself cannot be
// installed here (Core Tools download their runtime at install time), so the
// test plays the host by its documented custom handler contract — it starts
// the binary with FUNCTIONS_CUSTOMHANDLER_PORT, polls GET / until any answer,
// then sends forwarded HTTP requests to /api/<name> and invocation payloads
// to POST /<name>. Local: $PORT, then SIGTERM.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

const testfnPkg = "./pkg/faas/testdata/testfn"

func TestMain(m *testing.M) {
	code := m.Run()
	faastest.Cleanup()
	os.Exit(code)
}

type echo struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
	Raw    []byte              `json:"raw"`
}

func TestLambdaRIEHTTP(t *testing.T) {
	t.Parallel()
	rie := faastest.RIE(t)
	_ = rie
	bin := faastest.MustBuild(t, testfnPkg)
	l := faastest.StartRIE(t, bin, "TESTFN_MODE=http")

	t.Run("text body, query, cookies", func(t *testing.T) {
		h := http.Header{"Content-Type": {"application/json"}, "Cookie": {"a=1; b=2"}, "Ce-Type": {"azure.webpubsub.sys.connect"}}
		out := l.Invoke(t, faastest.URLEvent("POST", "/api/echo", "x=1&y=2", h, []byte(`{"hello":"world"}`)))
		pre, body, err := faastest.DecodeStream(out)
		if err != nil {
			t.Fatal(err)
		}
		if pre.StatusCode != 201 || pre.Headers["X-Testfn"] != "1" || pre.Headers["Content-Type"] != "application/json" {
			t.Errorf("prelude = %+v", pre)
		}
		if len(pre.Cookies) != 1 || pre.Cookies[0] != "seen=yes" {
			t.Errorf("Set-Cookie should go to cookies: %+v", pre.Cookies)
		}
		var e echo
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if e.Method != "POST" || e.Path != "/api/echo" || e.Query != "x=1&y=2" || e.Body != `{"hello":"world"}` {
			t.Errorf("handler saw %+v", e)
		}
		if got := e.Header["Cookie"]; len(got) != 1 || got[0] != "a=1; b=2" {
			t.Errorf("Cookie header rebuilt from cookies = %q", got)
		}
		if got := e.Header["Ce-Type"]; len(got) != 1 || got[0] != "azure.webpubsub.sys.connect" {
			t.Errorf("ce-type header = %q", got)
		}
	})
	t.Run("base64 binary body", func(t *testing.T) {
		raw := []byte{0, 1, 2, 0xff, 0xfe}
		ev := faastest.URLEvent("POST", "/api/echo", "", http.Header{"Content-Type": {"application/octet-stream"}}, raw)
		if !ev.IsBase64Encoded {
			t.Fatal("event should be base64")
		}
		_, body, err := faastest.DecodeStream(l.Invoke(t, ev))
		if err != nil {
			t.Fatal(err)
		}
		var e echo
		json.Unmarshal(body, &e)
		if !bytes.Equal(e.Raw, raw) {
			t.Errorf("body = %q, want %q", e.Raw, raw)
		}
	})
	t.Run("abuse protection", func(t *testing.T) {
		ev := faastest.URLEvent("OPTIONS", "/api/echo", "", http.Header{"WebHook-Request-Origin": {"example.webpubsub.azure.com"}}, nil)
		pre, _, err := faastest.DecodeStream(l.Invoke(t, ev))
		if err != nil {
			t.Fatal(err)
		}
		if pre.StatusCode != 200 || pre.Headers["Webhook-Allowed-Origin"] != "example.webpubsub.azure.com" {
			t.Errorf("prelude = %+v", pre)
		}
	})
	t.Run("panic is a 500, runtime survives", func(t *testing.T) {
		pre, body, err := faastest.DecodeStream(l.Invoke(t, faastest.URLEvent("GET", "/api/echo/panic", "", nil, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if pre.StatusCode != 500 || strings.TrimSpace(string(body)) != "internal error" {
			t.Errorf("got %d %q", pre.StatusCode, body)
		}
		pre, _, err = faastest.DecodeStream(l.Invoke(t, faastest.URLEvent("GET", "/api/echo", "", nil, nil)))
		if err != nil || pre.StatusCode != 201 {
			t.Errorf("after panic: %+v %v", pre, err)
		}
	})
	t.Run("not a function URL event", func(t *testing.T) {
		out := l.Invoke(t, faastest.EventBridgeRuleEvent(time.Now()))
		e, ok := faastest.AsLambdaError(out)
		if !ok || e.Type != "PayloadError" || !strings.Contains(e.Message, "not a function URL request") {
			t.Errorf("got %s", out)
		}
	})
}

// recorded is testfn's report of a ScheduleEvent.
func recordedEvent(t *testing.T, r faastest.Recorded) faas.ScheduleEvent {
	t.Helper()
	var ev faas.ScheduleEvent
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatalf("recorded %q: %v", r.Body, err)
	}
	return ev
}

func TestLambdaRIESchedule(t *testing.T) {
	t.Parallel()
	faastest.RIE(t)
	bin := faastest.MustBuild(t, testfnPkg)
	rec := faastest.NewRecorder(t, 0)
	l := faastest.StartRIE(t, bin, "TESTFN_MODE=schedule", "TESTFN_RECORD_URL="+rec.URL)
	at := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)

	t.Run("EventBridge rule envelope", func(t *testing.T) {
		rec.Reset()
		ev := faastest.EventBridgeRuleEvent(at)
		if out := l.Invoke(t, ev); string(out) != "null" {
			t.Fatalf("answer %s", out)
		}
		got := recordedEvent(t, rec.WaitN(t, 1, 5*time.Second)[0])
		if !got.Time.Equal(at) || got.Host != faas.HostLambda || !bytes.Equal(got.Raw, ev) {
			t.Errorf("function got %+v", got)
		}
	})
	t.Run("Scheduler Input with time", func(t *testing.T) {
		rec.Reset()
		in := `{"source":"wpsfn.schedule","time":"2026-11-27T05:05:00Z"}`
		if out := l.Invoke(t, in); string(out) != "null" {
			t.Fatalf("answer %s", out)
		}
		got := recordedEvent(t, rec.WaitN(t, 1, 5*time.Second)[0])
		if !got.Time.Equal(at.Add(5*time.Minute)) || string(got.Raw) != in {
			t.Errorf("function got %+v", got)
		}
	})
	t.Run("Scheduler Input without time runs now", func(t *testing.T) {
		rec.Reset()
		before := time.Now().Add(-time.Second)
		l.Invoke(t, `{"task":"broadcast"}`)
		got := recordedEvent(t, rec.WaitN(t, 1, 5*time.Second)[0])
		if got.Time.Before(before) || got.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("time = %v", got.Time)
		}
	})
	for _, tc := range []struct{ name, event, want string }{
		{"function error", `{"task":"fail"}`, "testfn: asked to fail"},
		{"not an object", `42`, "scheduled event is not a JSON object"},
		{"function URL event", `{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}}`, "function URL request was sent to a scheduled function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.Reset()
			e, ok := faastest.AsLambdaError(l.Invoke(t, tc.event))
			if !ok || !strings.Contains(e.Message, tc.want) {
				t.Errorf("got %+v, want message containing %q", e, tc.want)
			}
			if n := len(rec.Requests()); n != 0 {
				t.Errorf("function ran %d times", n)
			}
		})
	}
}

// startAzure starts bin as the Functions host does and waits for readiness.
func startAzure(t *testing.T, bin string, env ...string) (*faastest.Proc, string) {
	t.Helper()
	port := faastest.FreePort(t)
	p := faastest.Start(t, append(env, "FUNCTIONS_CUSTOMHANDLER_PORT="+port, "FUNCTIONS_HTTPWORKER_PORT="+port,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID=w1", "FUNCTIONS_APP_ROOT_PATH=/home/site/wwwroot"), bin)
	base := "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Output())
	}
	return p, base
}

func do(t *testing.T, method, url string, h http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestAzureCustomHandlerHTTP(t *testing.T) {
	t.Parallel()
	bin := faastest.MustBuild(t, testfnPkg)
	p, base := startAzure(t, bin, "TESTFN_MODE=http")

	// Forwarded request: the original path, route prefix included, and query.
	resp, b := do(t, "POST", base+"/api/echo?hub=chat", http.Header{
		"Ce-Type":                        {"azure.webpubsub.user.message"},
		"X-Azure-Functions-Invocationid": {"inv-1"},
	}, "hello")
	var e echo
	if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if e.Method != "POST" || e.Path != "/api/echo" || e.Query != "hub=chat" || e.Body != "hello" || e.Header["Ce-Type"][0] != "azure.webpubsub.user.message" {
		t.Errorf("handler saw %+v", e)
	}
	if resp.Header.Get("Set-Cookie") != "seen=yes" {
		t.Errorf("headers = %v", resp.Header)
	}

	resp, _ = do(t, "OPTIONS", base+"/api/echo", http.Header{"Webhook-Request-Origin": {"x.webpubsub.azure.com"}}, "")
	if resp.StatusCode != 200 || resp.Header.Get("WebHook-Allowed-Origin") != "x.webpubsub.azure.com" {
		t.Errorf("abuse protection: %d %v", resp.StatusCode, resp.Header)
	}

	resp, b = do(t, "GET", base+"/api/other", nil, "")
	if resp.StatusCode != 404 || !strings.Contains(string(b), "no function at GET /api/other") {
		t.Errorf("unknown route: %d %s", resp.StatusCode, b)
	}

	resp, b = do(t, "GET", base+"/api/echo/panic", nil, "")
	if resp.StatusCode != 500 || strings.Contains(string(b), "goroutine") {
		t.Errorf("panic: %d %s", resp.StatusCode, b)
	}

	// Invocation payload for an HTTP trigger (a function with extra bindings).
	inv := `{"Data":{"req":{"Url":"https://app.azurewebsites.net/api/echo?a=1","Method":"POST","Query":{"a":"1"},"Headers":{"Content-Type":["text/plain"],"Ce-Id":["7"]},"Params":{},"Body":"payload"}},"Metadata":{"sys":{"MethodName":"echo","UtcNow":"2026-11-27T05:00:00.1234567Z"}}}`
	resp, b = do(t, "POST", base+"/echo", http.Header{"Content-Type": {"application/json"}}, inv)
	var ar struct {
		Outputs struct {
			Res struct {
				StatusCode string            `json:"statusCode"`
				Headers    map[string]string `json:"headers"`
				Body       string            `json:"body"`
			} `json:"res"`
		}
		Logs []string
	}
	if err := json.Unmarshal(b, &ar); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	json.Unmarshal([]byte(ar.Outputs.Res.Body), &e)
	if ar.Outputs.Res.StatusCode != "201" || ar.Outputs.Res.Headers["X-Testfn"] != "1" || e.Path != "/api/echo" || e.Query != "a=1" || e.Body != "payload" || e.Header["Ce-Id"][0] != "7" {
		t.Errorf("invocation answer %s; handler saw %+v", b, e)
	}

	resp, b = do(t, "POST", base+"/echo", nil, `{"Data":`)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "invocation payload is not a JSON object") {
		t.Errorf("bad payload: %d %s", resp.StatusCode, b)
	}

	// Graceful shutdown: a request in flight when SIGTERM arrives completes.
	done := make(chan int)
	go func() {
		resp, err := http.Get(base + "/api/echo/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(150 * time.Millisecond)
	if err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if code := <-done; code != 201 {
		t.Errorf("in-flight request got %d", code)
	}
}

func TestAzureCustomHandlerTimer(t *testing.T) {
	t.Parallel()
	bin := faastest.MustBuild(t, testfnPkg)
	rec := faastest.NewRecorder(t, 0)
	_, base := startAzure(t, bin, "TESTFN_MODE=schedule", "TESTFN_NAME=broadcast-schedule", "TESTFN_RECORD_URL="+rec.URL)
	at := time.Date(2026, 11, 27, 5, 0, 0, 9_603_500, time.UTC)

	type answer struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue any
	}
	post := func(body string) (int, answer, []byte) {
		resp, b := do(t, "POST", base+"/broadcast-schedule", http.Header{"Content-Type": {"application/json"}}, body)
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("answer %q: %v", b, err)
		}
		return resp.StatusCode, a, b
	}

	payload := string(faastest.AzureTimerPayload("broadcast-schedule", at))
	code, a, b := post(payload)
	if code != 200 || a.Outputs == nil || len(a.Outputs) != 0 || a.ReturnValue != nil || len(a.Logs) != 1 {
		t.Fatalf("answer %d %s", code, b)
	}
	got := recordedEvent(t, rec.WaitN(t, 1, 5*time.Second)[0])
	if !got.Time.Equal(at) || got.Host != faas.HostAzure || string(got.Raw) != payload {
		t.Errorf("function got %+v", got)
	}

	// Values as JSON strings, and the invariant .NET date form.
	rec.Reset()
	lenient := `{"Data":{"myTimer":"{\"Schedule\":{\"AdjustForDST\":true},\"ScheduleStatus\":null,\"IsPastDue\":true}"},"Metadata":"{\"sys\":{\"MethodName\":\"broadcast-schedule\",\"UtcNow\":\"11/27/2026 5:10:00 AM\"}}"}`
	if code, _, b := post(lenient); code != 200 {
		t.Fatalf("lenient: %d %s", code, b)
	}
	got = recordedEvent(t, rec.WaitN(t, 1, 5*time.Second)[0])
	if want := time.Date(2026, 11, 27, 5, 10, 0, 0, time.UTC); !got.Time.Equal(want) {
		t.Errorf("time = %v, want %v", got.Time, want)
	}

	// The function's failure fails the invocation (non-2xx) with the reason in Logs.
	rec.Reset()
	code, a, _ = post(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{"note":"fail"}}`)
	if code != 500 || len(a.Logs) != 1 || !strings.Contains(a.Logs[0], "testfn: asked to fail") {
		t.Errorf("failure: %d %+v", code, a)
	}
	code, a, _ = post(`[1,2]`)
	if code != 400 || !strings.Contains(a.Logs[0], "invocation payload is not a JSON object") {
		t.Errorf("bad payload: %d %+v", code, a)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("function ran %d times on bad payloads", n)
	}

	resp, _ := do(t, "GET", base+"/", nil, "")
	if resp.StatusCode != 200 {
		t.Errorf("readiness GET / = %d", resp.StatusCode)
	}
	resp, _ = do(t, "GET", base+"/broadcast-schedule", nil, "")
	if resp.StatusCode != 404 && resp.StatusCode != 405 {
		t.Errorf("GET /broadcast-schedule = %d", resp.StatusCode)
	}
}

func TestLocalBinary(t *testing.T) {
	t.Parallel()
	bin := faastest.MustBuild(t, testfnPkg)
	port := faastest.FreePort(t)
	p := faastest.Start(t, []string{"TESTFN_MODE=http", "PORT=" + port, "HOST=127.0.0.1"}, bin)
	base := "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(t.Context(), base+"/", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	resp, b := do(t, "PUT", base+"/any/path?q=1", nil, "x")
	var e echo
	json.Unmarshal(b, &e)
	if resp.StatusCode != 201 || e.Method != "PUT" || e.Path != "/any/path" || e.Query != "q=1" || e.Body != "x" {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	if err := p.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(p.Output(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown log line:\n%s", p.Output())
	}
}

func TestRunFailsWithOneLine(t *testing.T) {
	t.Parallel()
	bin := faastest.MustBuild(t, testfnPkg)
	p := faastest.Start(t, []string{"TESTFN_MODE=http", "PORT=notaport", "HOST=127.0.0.1"}, bin)
	<-p.Done()
	if p.Cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit code %d", p.Cmd.ProcessState.ExitCode())
	}
	out := strings.TrimSpace(p.Output())
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "echo: listen on port notaport") {
		t.Errorf("output %q", out)
	}
}

// A function with both triggers: function URL events go to HTTP, the rest
// to Scheduled (lambdaDispatch).
func TestLambdaRIEBoth(t *testing.T) {
	t.Parallel()
	faastest.RIE(t)
	bin := faastest.MustBuild(t, testfnPkg)
	rec := faastest.NewRecorder(t, 0)
	l := faastest.StartRIE(t, bin, "TESTFN_MODE=both", "TESTFN_RECORD_URL="+rec.URL)
	pre, body, err := faastest.DecodeStream(l.Invoke(t, faastest.URLEvent("GET", "/x", "", nil, nil)))
	if err != nil || pre.StatusCode != 201 || !strings.Contains(string(body), `"path":"/x"`) {
		t.Fatalf("URL event: %+v %q %v", pre, body, err)
	}
	if n := len(rec.Requests()); n != 0 {
		t.Errorf("URL event ran the schedule")
	}
	at := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	if out := l.Invoke(t, faastest.EventBridgeRuleEvent(at)); string(out) != "null" {
		t.Fatalf("rule event: %s", out)
	}
	if got := recordedEvent(t, rec.WaitN(t, 1, 5*time.Second)[0]); !got.Time.Equal(at) {
		t.Errorf("schedule got %+v", got)
	}
}
