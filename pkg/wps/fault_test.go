package wps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/httprec"
)

// fastRetry keeps retry waits short in tests.
var fastRetry = RetryOptions{MaxRetries: 3, Delay: time.Millisecond, MaxDelay: 10 * time.Millisecond}

const testKey = "test-key-0123456789-0123456789-0123456789="

func newTestClient(t *testing.T, endpoint string, opts *ClientOptions) *Client {
	t.Helper()
	if opts == nil {
		opts = &ClientOptions{}
	}
	if opts.Retry == (RetryOptions{}) {
		opts.Retry = fastRetry
	}
	c, err := NewClientWithKey(endpoint, "chat", NewKeyCredential(testKey), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertNoSecrets fails t if err's text holds the key or any token in auths.
func assertNoSecrets(t *testing.T, err error, auths ...string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, testKey) {
		t.Errorf("error text contains the key: %s", msg)
	}
	for _, a := range auths {
		if tok := strings.TrimPrefix(a, "Bearer "); tok != "" && strings.Contains(msg, tok) {
			t.Errorf("error text contains the token: %s", msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error text is not one line: %q", msg)
	}
}

func TestRetriesRetryableStatuses(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rec := newRecorder(t)
			rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= 2 {
					w.WriteHeader(code)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			}
			c := newTestClient(t, rec.URL, nil)
			if err := c.SendToGroup(context.Background(), "g", JSON(map[string]string{"k": "v"}), &SendOptions{Excluded: []string{"x"}}); err != nil {
				t.Fatalf("SendToGroup: %v", err)
			}
			got := rec.requests()
			if len(got) != 3 {
				t.Fatalf("%d requests, want 3 (two failures, one success)", len(got))
			}
			for i, r := range got {
				if r.Body != `{"k":"v"}` || r.ContentType != "application/json" || r.RawQuery != "api-version=2024-12-01&excluded=x" {
					t.Errorf("attempt %d sent %+v: the body or query was not replayed intact", i+1, r)
				}
				if _, claims := verifyRESTToken(t, r.Authorization, testKey); claims["aud"] != rec.URL+"/api/hubs/chat/groups/g/:send?api-version=2024-12-01&excluded=x" {
					t.Errorf("attempt %d aud %v", i+1, claims["aud"])
				}
			}
		})
	}
}

func TestNeverRetriesOtherStatuses(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 409, 413, 501, 505} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rec := newRecorder(t)
			rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.Header().Set("x-ms-error-code", "Test.Code")
				w.Header().Set("x-ms-request-id", "req-42")
				w.WriteHeader(code)
				// A hostile or buggy answer echoing the credentials must not leak them.
				fmt.Fprintf(w, `{"code":"Test.Code","message":"bad call\nwith %s and key %s","target":null}`, r.Header.Get("Authorization"), testKey)
			}
			c := newTestClient(t, rec.URL, nil)
			err := c.SendToAll(context.Background(), Text("hi"), nil)
			if err == nil {
				t.Fatal("no error")
			}
			got := rec.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1: status %d must not be retried", len(got), code)
			}
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *ResponseError", err)
			}
			if re.StatusCode != code || re.Code != "Test.Code" || re.RequestID != "req-42" || !strings.HasPrefix(re.Message, "bad call with Bearer [redacted] and key [redacted]") {
				t.Errorf("ResponseError %+v", re)
			}
			wantURL := rec.URL + "/api/hubs/chat/:send?api-version=2024-12-01"
			if re.Operation != "SendToAll" || re.Method != "POST" || re.URL != wantURL {
				t.Errorf("ResponseError operation %q, method %q, URL %q; want SendToAll POST %s", re.Operation, re.Method, re.URL, wantURL)
			}
			if want := fmt.Sprintf("wps: SendToAll: POST %s: %d %s: Test.Code: bad call with", wantURL, code, http.StatusText(code)); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error text %q, want it to start %q", err, want)
			}
			if re.Response == nil || re.Response.StatusCode != code || re.Response.Header.Get("x-ms-request-id") != "req-42" {
				t.Fatalf("ResponseError.Response %+v", re.Response)
			}
			if n, _ := re.Response.Body.Read(make([]byte, 1)); n != 0 {
				t.Error("ResponseError.Response.Body is not empty")
			}
			if req := re.Response.Request; req == nil || req.Header.Get("Authorization") != "" || req.URL.String() != wantURL {
				t.Errorf("ResponseError.Response.Request %+v keeps credentials or the wrong URL", req)
			}
			assertNoSecrets(t, err, got[0].Authorization)
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("x-ms-error-code", "Busy")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, rec.URL, &ClientOptions{Retry: RetryOptions{MaxRetries: 2, Delay: time.Millisecond}, Logger: logger})
	err := c.AddUserToGroup(context.Background(), "g", "u")
	if n := strings.Count(logs.String(), `msg="wps: retrying" op=AddUserToGroup`); n != 2 {
		t.Errorf("%d retry log lines, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), testKey) || strings.Contains(logs.String(), "eyJ") {
		t.Errorf("logs hold a secret:\n%s", logs.String())
	}
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 503 || re.Code != "Busy" {
		t.Fatalf("error %v, want a 503 ResponseError", err)
	}
	if n := len(rec.requests()); n != 3 {
		t.Fatalf("%d requests, want 1 + MaxRetries(2)", n)
	}

	rec.reset()
	c = newTestClient(t, rec.URL, &ClientOptions{Retry: RetryOptions{MaxRetries: -1}})
	if err := c.AddUserToGroup(context.Background(), "g", "u"); err == nil {
		t.Fatal("no error")
	}
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("%d requests with retries disabled, want 1", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	cases := []struct {
		name    string
		header  func() (string, string)
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"seconds", func() (string, string) { return "Retry-After", "1" }, 950 * time.Millisecond, 3 * time.Second},
		{"http-date", func() (string, string) {
			return "Retry-After", time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
		}, 900 * time.Millisecond, 3 * time.Second},
		{"retry-after-ms", func() (string, string) { return "retry-after-ms", "300" }, 280 * time.Millisecond, 2 * time.Second},
		// MaxDelay (10 ms here) caps what the server asks for.
		{"capped", func() (string, string) { return "Retry-After", "120" }, 0, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var times []time.Time
			rec := newRecorder(t)
			rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				if n == 1 {
					w.Header().Set(tc.header())
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			}
			opts := &ClientOptions{Retry: RetryOptions{MaxRetries: 1, Delay: time.Millisecond, MaxDelay: 5 * time.Second}}
			if tc.name == "capped" {
				opts.Retry.MaxDelay = 10 * time.Millisecond
			}
			c := newTestClient(t, rec.URL, opts)
			if err := c.SendToAll(context.Background(), Text("x"), nil); err != nil {
				t.Fatal(err)
			}
			if len(times) != 2 {
				t.Fatalf("%d requests, want 2", len(times))
			}
			if gap := times[1].Sub(times[0]); gap < tc.atLeast || gap > tc.atMost {
				t.Errorf("retried after %v, want %v to %v", gap, tc.atLeast, tc.atMost)
			}
		})
	}
}

// retryLater answers 503 with a Retry-After far beyond any test's patience.
func retryLater(w http.ResponseWriter, r *http.Request, n int) {
	w.Header().Set("Retry-After", "30")
	w.WriteHeader(http.StatusServiceUnavailable)
}

// sendCancelledMidway sends through rec with a context cancelled 50 ms in
// and requires context.Canceled at once, after exactly one request.
func sendCancelledMidway(t *testing.T, rec *recorder, opts *ClientOptions) {
	t.Helper()
	c := newTestClient(t, rec.URL, opts)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := c.SendToAll(ctx, Text("x"), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned %v after the cancel", d)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestCancelledContextStopsAtOnce(t *testing.T) {
	t.Run("in flight", func(t *testing.T) {
		release := make(chan struct{})
		rec := newRecorder(t)
		rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		defer close(release)
		sendCancelledMidway(t, rec, nil)
	})
	t.Run("while waiting to retry", func(t *testing.T) {
		rec := newRecorder(t)
		rec.answer = retryLater
		sendCancelledMidway(t, rec, &ClientOptions{Retry: RetryOptions{MaxRetries: 3, Delay: time.Millisecond, MaxDelay: time.Minute}})
	})
	t.Run("deadline before the retry", func(t *testing.T) {
		rec := newRecorder(t)
		rec.answer = retryLater
		c := newTestClient(t, rec.URL, &ClientOptions{Retry: RetryOptions{MaxRetries: 3, Delay: time.Millisecond, MaxDelay: time.Minute}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := c.SendToAll(ctx, Text("x"), nil)
		var re *ResponseError
		if !errors.As(err, &re) || re.StatusCode != 503 {
			t.Fatalf("error %v, want the 503 (no point waiting past the deadline)", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("waited %v", d)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		rec := newRecorder(t)
		c := newTestClient(t, rec.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.SendToAll(ctx, Text("x"), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v", err)
		}
		if n := len(rec.requests()); n != 0 {
			t.Errorf("%d requests sent with a cancelled context", n)
		}
	})
}

func TestNetworkErrorsRetried(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 2 { // drop the connection without an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
	c := newTestClient(t, rec.URL, nil)
	if err := c.SendToUser(context.Background(), "u 1", Binary([]byte("payload")), nil); err != nil {
		t.Fatalf("SendToUser: %v", err)
	}
	got := rec.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for _, r := range got {
		if r.Body != "payload" || r.Path != "/api/hubs/chat/users/u%201/:send" {
			t.Errorf("replayed request %+v", r)
		}
	}

	// Nothing listening: every attempt fails; the error says why, on one line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c = newTestClient(t, "http://"+addr, nil)
	err = c.SendToAll(context.Background(), Text("x"), nil)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.HasPrefix(err.Error(), "wps: SendToAll: POST http://"+addr+"/api/hubs/chat/:send: ") {
		t.Fatalf("error %v", err)
	}
	assertNoSecrets(t, err)
}

func TestNothingSentTwiceAfterSuccess(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(httprec.RESTStatus(r.Method, r.URL.Path))
	}
	c := newTestClient(t, rec.URL, nil)
	ctx := context.Background()
	if err := c.SendToAll(ctx, Text("once"), nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { return c.SendToConnection(ctx, "c", Text("once"), nil) },
		func() error { return c.AddConnectionToGroup(ctx, "g", "c") },
		func() error { return c.CloseConnection(ctx, "c", nil) },
		func() error { _, err := c.GroupExists(ctx, "g"); return err },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // nothing may arrive late either
	got := rec.requests()
	if len(got) != 6 {
		t.Fatalf("%d requests, want 6 (one retried failure, then each call once): %+v", len(got), got)
	}
}

func TestExistsAnswers(t *testing.T) {
	rec := newRecorder(t)
	status := http.StatusNotFound
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(status) }
	c := newTestClient(t, rec.URL, nil)
	ctx := context.Background()
	checks := map[string]func() (bool, error){
		"ConnectionExists": func() (bool, error) { return c.ConnectionExists(ctx, "c") },
		"UserExists":       func() (bool, error) { return c.UserExists(ctx, "u") },
		"GroupExists":      func() (bool, error) { return c.GroupExists(ctx, "g") },
		"CheckPermission": func() (bool, error) {
			return c.CheckPermission(ctx, "c", PermissionSendToGroup, &PermissionOptions{TargetName: "g"})
		},
	}
	for name, f := range checks {
		status = http.StatusNotFound
		if ok, err := f(); ok || err != nil {
			t.Errorf("%s on 404 = %v, %v; want false, nil", name, ok, err)
		}
		status = http.StatusOK
		if ok, err := f(); !ok || err != nil {
			t.Errorf("%s on 200 = %v, %v; want true, nil", name, ok, err)
		}
		status = http.StatusForbidden
		var re *ResponseError
		if _, err := f(); !errors.As(err, &re) || re.StatusCode != 403 {
			t.Errorf("%s on 403: error %v", name, err)
		}
	}
}

func TestInvalidInputRejectedBeforeSending(t *testing.T) {
	rec := newRecorder(t)
	c := newTestClient(t, rec.URL, nil)
	ctx := context.Background()
	cases := map[string]error{
		"empty user":          c.SendToUser(ctx, "", Text("x"), nil),
		"empty connection":    c.SendToConnection(ctx, "", Text("x"), nil),
		"blank group":         c.SendToGroup(ctx, "   ", Text("x"), nil),
		"long group":          c.AddUserToGroup(ctx, strings.Repeat("g", 1025), "u"),
		"excluded on user":    c.SendToUser(ctx, "u", Text("x"), &SendOptions{Excluded: []string{"c"}}),
		"filter on conn":      c.SendToConnection(ctx, "c", Text("x"), &SendOptions{Filter: FilterUserIs("a")}),
		"ttl too long":        c.SendToAll(ctx, Text("x"), &SendOptions{MessageTTL: 301 * time.Second}),
		"bad json":            c.SendToAll(ctx, JSON(func() {}), nil),
		"unknown permission":  c.GrantPermission(ctx, "c", Permission("admin"), nil),
		"no groups":           c.AddConnectionsToGroups(ctx, nil, Filter{}),
		"empty group in list": c.RemoveConnectionsFromGroups(ctx, []string{"g", ""}, Filter{}),
		"negative expiry":     second(c.ClientAccessURL(ctx, &ClientAccessOptions{Expiry: -time.Minute})),
		"bad token group":     second(c.ClientAccessURL(ctx, &ClientAccessOptions{Groups: []string{" "}})),
		"empty role":          second(c.ClientAccessURL(ctx, &ClientAccessOptions{Roles: []string{""}})),
		"unknown protocol":    second(c.ClientAccessURL(ctx, &ClientAccessOptions{Protocol: ClientProtocol(7)})),
		"list page size":      listErr(c, &ListOptions{MaxPageSize: 201}),
		"list blank group":    listErr(c, nil),
	}
	for name, err := range cases {
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "wps: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q", name, err)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
	if _, err := NewClientWithKey(rec.URL, "1hub", NewKeyCredential(testKey), nil); err == nil {
		t.Error("hub starting with a digit accepted")
	}
	if _, err := NewClient(rec.URL, "chat", nil, nil); err == nil {
		t.Error("nil token credential accepted")
	}
	if _, err := NewClientWithKey(rec.URL, "chat", nil, nil); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := NewClientWithKey(rec.URL, "chat", NewKeyCredential(""), nil); err == nil {
		t.Error("empty key accepted")
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	cases := []struct {
		header, value string
		want          time.Duration
		ok            bool
	}{
		{"Retry-After", "2", 2 * time.Second, true},
		{"Retry-After", "0.5", 500 * time.Millisecond, true},
		{"Retry-After", now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{"Retry-After", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Retry-After", "1e300", 24 * time.Hour, true},
		{"Retry-After", "NaN", 0, false},
		{"Retry-After", "-3", 0, false},
		{"Retry-After", "soon", 0, false},
		{"retry-after-ms", "250", 250 * time.Millisecond, true},
		{"x-ms-retry-after-ms", "1e300", 24 * time.Hour, true},
		{"x-ms-retry-after-ms", "Inf", 24 * time.Hour, true},
	}
	for _, tc := range cases {
		resp := &http.Response{Header: http.Header{}}
		resp.Header.Set(tc.header, tc.value)
		got, ok := retryAfter(resp, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %s = %v, %v; want %v, %v", tc.header, tc.value, got, ok, tc.want, tc.ok)
		}
	}
	o, err := RetryOptions{Delay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 10; n++ {
		d := o.backoff(n)
		base := min(100*time.Millisecond<<(n-1), time.Second)
		if d < base*8/10 || d > min(base*12/10, time.Second) {
			t.Errorf("backoff(%d) = %v, want about %v", n, d, base)
		}
	}
}

func TestRedirectsNotFollowed(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		http.Redirect(w, r, "http://elsewhere.example/steal", http.StatusTemporaryRedirect)
	}
	c, err := NewClientWithKey(rec.URL, "chat", NewKeyCredential(testKey), &ClientOptions{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	err = c.SendToAll(context.Background(), Text("x"), nil)
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("error %v, want a 307 ResponseError", err)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func second[T any](_ T, err error) error { return err }

// listErr returns the error ListConnectionsInGroup yields for opts (with a
// blank group when opts is nil).
func listErr(c *Client, opts *ListOptions) error {
	group := "g"
	if opts == nil {
		group = "  "
	}
	for _, err := range c.ListConnectionsInGroup(context.Background(), group, opts) {
		if err != nil {
			return err
		}
	}
	return nil
}
