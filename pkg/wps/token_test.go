package wps

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestRefreshTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		tok  azcore.AccessToken
		want time.Time
	}{
		{"an hour: five minutes early", azcore.AccessToken{ExpiresOn: now.Add(time.Hour)}, now.Add(55 * time.Minute)},
		{"RefreshOn before that wins", azcore.AccessToken{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}, now.Add(30 * time.Minute)},
		{"RefreshOn after the margin is ignored", azcore.AccessToken{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(58 * time.Minute)}, now.Add(55 * time.Minute)},
		{"short-lived: half its life, not every call", azcore.AccessToken{ExpiresOn: now.Add(4 * time.Minute)}, now.Add(2 * time.Minute)},
		{"RefreshOn in the past: half its life", azcore.AccessToken{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(-time.Minute)}, now.Add(30 * time.Minute)},
		{"no expiry: not reused", azcore.AccessToken{}, now},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := refreshTime(tc.tok, now); !got.Equal(tc.want) {
				t.Errorf("refreshTime = %v, want %v", got.Sub(now), tc.want.Sub(now))
			}
		})
	}
}

// scriptedCredential answers GetToken from a list of results, one per call.
type scriptedCredential struct {
	mu      sync.Mutex
	results []scripted
	calls   int
	now     func() time.Time // the client's clock; nil means testClock
}

type scripted struct {
	tok string
	exp time.Duration // from the client's clock
	err error
}

func (s *scriptedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.results[min(s.calls, len(s.results)-1)]
	s.calls++
	if r.err != nil {
		return azcore.AccessToken{}, r.err
	}
	now := testClock
	if s.now != nil {
		now = s.now()
	}
	return azcore.AccessToken{Token: r.tok, ExpiresOn: now.Add(r.exp)}, nil
}

var testClock = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// TestTokenCacheLifecycle drives the cache with a fake clock: reuse while
// fresh, a refresh when due, the current token kept through a failed
// refresh (with a warning, no token in it), an error once it has expired,
// and a new token after the service refuses one with 401.
func TestTokenCacheLifecycle(t *testing.T) {
	rec := newRecorder(t)
	var refuse bool
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if refuse {
			refuse = false
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
	cred := &scriptedCredential{results: []scripted{
		{tok: "t1", exp: time.Hour},
		{err: errors.New("identity endpoint down")},
		{err: errors.New("identity endpoint down")},
		{tok: "t2", exp: time.Hour},
		{tok: "t3", exp: time.Hour},
	}}
	var logs bytes.Buffer
	c, err := NewClient(rec.URL, "chat", cred, &ClientOptions{Retry: RetryOptions{MaxRetries: -1},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	now := testClock
	c.now = func() time.Time { return now }
	cred.now = c.now
	ctx := context.Background()
	send := func() error { return c.SendToAll(ctx, Text("x"), nil) }
	steps := []struct {
		name  string
		at    time.Duration
		auth  string // "" means the call fails
		calls int
	}{
		{"first call fetches", 0, "Bearer t1", 1},
		{"fresh: reused", 50 * time.Minute, "Bearer t1", 1},
		{"due, refresh fails: current token kept", 56 * time.Minute, "Bearer t1", 2},
		{"expired after failed refreshes: error", 60 * time.Minute, "", 3},
		{"credential back: new token", 61 * time.Minute, "Bearer t2", 4},
	}
	for _, st := range steps {
		now = testClock.Add(st.at)
		before := len(rec.requests())
		err := send()
		got := rec.requests()[before:]
		switch {
		case st.auth == "" && (err == nil || !strings.Contains(err.Error(), "identity endpoint down") || len(got) != 0):
			t.Errorf("%s: err %v, %d requests; want the credential's error and no request", st.name, err, len(got))
		case st.auth != "" && (err != nil || len(got) != 1 || got[0].Authorization != st.auth):
			t.Errorf("%s: err %v, requests %+v; want one with %q", st.name, err, got, st.auth)
		}
		if cred.calls != st.calls {
			t.Errorf("%s: GetToken called %d times in all, want %d", st.name, cred.calls, st.calls)
		}
	}
	if !strings.Contains(logs.String(), "refreshing the Entra ID token failed") || strings.Contains(logs.String(), "t1") {
		t.Errorf("log %q: want one warning, without the token", logs.String())
	}

	// A 401 drops the token: the next call asks the credential again.
	refuse = true
	var re *ResponseError
	if err := send(); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused call: %v", err)
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if got := rec.requests(); got[len(got)-1].Authorization != "Bearer t3" || cred.calls != 5 {
		t.Errorf("after a 401: Authorization %q, %d GetToken calls; want t3 and 5", got[len(got)-1].Authorization, cred.calls)
	}
}

func TestNewClientChecks(t *testing.T) {
	cred := &scriptedCredential{results: []scripted{{tok: "t", exp: time.Hour}}}
	cases := []struct {
		name     string
		endpoint string
		opts     *ClientOptions
		want     string // "" means accepted
	}{
		{"https", "https://x.webpubsub.azure.com", nil, ""},
		{"http loopback v4", "http://127.0.0.1:8080", nil, ""},
		{"http loopback v6", "http://[::1]:8080", nil, ""},
		{"http localhost", "http://localhost:8080", nil, ""},
		{"http elsewhere", "http://wps.example.com", nil, "refusing to send Entra ID tokens over plain http"},
		{"http elsewhere, allowed", "http://wps.example.com", &ClientOptions{InsecureAllowCredentialWithHTTP: true}, ""},
		{"http proxy elsewhere", "https://x.webpubsub.azure.com", &ClientOptions{ReverseProxyEndpoint: "http://apim.example.com"}, "refusing"},
		{"negative delay", "https://x.webpubsub.azure.com", &ClientOptions{Retry: RetryOptions{Delay: -time.Second}}, "RetryOptions.Delay -1s is negative"},
		{"negative max delay", "https://x.webpubsub.azure.com", &ClientOptions{Retry: RetryOptions{MaxDelay: -time.Second}}, "RetryOptions.MaxDelay -1s is negative"},
		{"negative retries turn retries off", "https://x.webpubsub.azure.com", &ClientOptions{Retry: RetryOptions{MaxRetries: -1}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.endpoint, "chat", cred, tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Key-signed tokens are bound to one URL: plain http is allowed.
	if _, err := NewClientWithKey("http://wps.example.com", "chat", NewKeyCredential("k"), nil); err != nil {
		t.Errorf("NewClientWithKey over http: %v", err)
	}
	if _, err := NewClientWithKey("https://x.webpubsub.azure.com", "chat", NewKeyCredential("k"), &ClientOptions{Retry: RetryOptions{Delay: -1}}); err == nil {
		t.Error("NewClientWithKey accepted a negative Delay")
	}
}

// TestNilLoggerIsDefaultAtUse: a nil Logger means slog.Default() as it is
// when the line is logged, not when the client was made.
func TestNilLoggerIsDefaultAtUse(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
	c := newTestClient(t, rec.URL, nil)
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	if err := c.SendToAll(context.Background(), Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "wps: retrying") || !strings.Contains(logs.String(), "op=SendToAll") {
		t.Errorf("default logger got %q, want the retry line", logs.String())
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"no query", "https://h/api/hubs/chat/:send", "https://h/api/hubs/chat/:send"},
		{"plain query kept", "https://h/p?api-version=2024-12-01&userId=a", "https://h/p?api-version=2024-12-01&userId=a"},
		{"access_token", "https://h/p?api-version=1&access_token=eyJ.x.y", "https://h/p?api-version=1&access_token=REDACTED"},
		{"sig and code, any case", "https://h/p?Sig=abc&CODE=k&x=1", "https://h/p?Sig=REDACTED&CODE=REDACTED&x=1"},
		{"escaped key", "https://h/p?acc%65ss_token=t", "https://h/p?acc%65ss_token=REDACTED"},
		{"key without value", "https://h/p?token", "https://h/p?token=REDACTED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactURL(tc.in); got != tc.want {
				t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestResponseErrorURLRedacted: a nextLink carrying a token-looking query
// parameter never shows it in the error.
func TestResponseErrorURLRedacted(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"value":[],"nextLink":"/api/hubs/chat/groups/g/connections?api-version=2024-12-01&token=s3cr3t"}`))
			return
		}
		w.WriteHeader(http.StatusForbidden)
	}
	c := newTestClient(t, rec.URL, nil)
	var last error
	for _, err := range c.ListConnectionsInGroup(context.Background(), "g", nil) {
		last = err
	}
	var re *ResponseError
	if !errors.As(last, &re) || re.Operation != "ListConnectionsInGroup" || re.Method != "GET" {
		t.Fatalf("error %v", last)
	}
	if strings.Contains(last.Error(), "s3cr3t") || !strings.Contains(re.URL, "token=REDACTED") || strings.Contains(re.Response.Request.URL.String(), "s3cr3t") {
		t.Errorf("secret query value shown: %v (URL %q)", last, re.URL)
	}
}
