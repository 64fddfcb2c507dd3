package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// TestCallerHeaders: what a Caller puts on the wire for each configuration.
func TestCallerHeaders(t *testing.T) {
	ev := &UserEventRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "c1"}, Data: []byte("hi"), DataType: DataText}
	evWithOrigin := &UserEventRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "c1", Origin: "event.example"}, Data: []byte("hi")}
	token := func(context.Context) (string, error) { return "tok-123", nil }
	for _, tc := range []struct {
		name      string
		caller    *upstream.Caller
		ev        Event
		signature string
		auth      string
		origin    string
	}{
		{"zero caller", &upstream.Caller{}, ev, "", "", "127.0.0.1"},
		{"keys", &upstream.Caller{Keys: NewKeys(testKey, otherKey)}, ev, Sign("c1", testKey, otherKey), "", "127.0.0.1"},
		{"empty keys", &upstream.Caller{Keys: NewKeys()}, ev, "", "", "127.0.0.1"},
		{"token", &upstream.Caller{Token: token}, ev, "", "Bearer tok-123", "127.0.0.1"},
		{"keys and token", &upstream.Caller{Keys: NewKeys(testKey), Token: token}, ev, Sign("c1", testKey), "Bearer tok-123", "127.0.0.1"},
		{"event origin", &upstream.Caller{}, evWithOrigin, "", "", "event.example"},
		{"caller origin wins", &upstream.Caller{Origin: "svc.example"}, evWithOrigin, "", "", "svc.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			ans, err := tc.caller.Send(context.Background(), srv.URL, tc.ev)
			if err != nil || ans.Status != http.StatusNoContent {
				t.Fatalf("Send: %v %+v", err, ans)
			}
			for _, h := range []struct{ name, want string }{
				{"Ce-Signature", tc.signature}, {"Authorization", tc.auth}, {"Webhook-Request-Origin", tc.origin},
				{"Ce-Connectionid", "c1"}, {"Ce-Type", "azure.webpubsub.user.message"}, {"Ce-Awpsversion", "1.0"},
			} {
				if v := got.Get(h.name); v != h.want {
					t.Errorf("%s: %q, want %q", h.name, v, h.want)
				}
			}
		})
	}
}

// TestCallerErrors: refusals happen before anything is sent, and errors
// never carry the token or the URL's query.
func TestCallerErrors(t *testing.T) {
	var hits atomic.Int32
	big := strings.Repeat("x", 2048)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(big))
	}))
	defer srv.Close()
	ev := &ConnectedRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "c1"}}
	tokenErr := errors.New("identity endpoint unavailable")
	for _, tc := range []struct {
		name   string
		caller *upstream.Caller
		ev     Event
		url    string
		want   string // in the error
		hits   int32  // requests the server saw
	}{
		{"token error", &upstream.Caller{Token: func(context.Context) (string, error) { return "", tokenErr }}, ev, srv.URL, "upstream: getting the bearer token: identity endpoint unavailable", 0},
		{"negative MaxAnswerBytes", &upstream.Caller{MaxAnswerBytes: -1}, ev, srv.URL, "upstream: Caller.MaxAnswerBytes is negative", 0},
		{"answer too large", &upstream.Caller{MaxAnswerBytes: 1024}, ev, srv.URL, "upstream: the handler's answer is larger than 1024 bytes", 1},
		{"no connection id", &upstream.Caller{}, &ConnectedRequest{ConnectionContext: ConnectionContext{Hub: "chat"}}, srv.URL, "upstream: NewRequest: cloudevents: ConnectionID is empty", 0},
		{"unreachable, query redacted", &upstream.Caller{Token: func(context.Context) (string, error) { return "tok-secret", nil }}, ev, "http://127.0.0.1:1/api?code=SECRET", "?REDACTED", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			_, err := tc.caller.Send(context.Background(), tc.url, tc.ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "tok-secret") {
				t.Errorf("error leaks a secret: %v", err)
			}
			if n := hits.Load(); n != tc.hits {
				t.Errorf("server saw %d requests, want %d", n, tc.hits)
			}
		})
	}
	if _, err := (&upstream.Caller{}).Send(context.Background(), srv.URL, ev); err != nil {
		t.Errorf("the default limit refused a 2 KiB answer: %v", err)
	}
}

// TestCallerValidateToken: the bearer token goes along with the
// abuse-protection request too.
func TestCallerValidateToken(t *testing.T) {
	var auth, origin string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, origin = r.Header.Get("Authorization"), r.Header.Get("WebHook-Request-Origin")
		w.Header().Set("WebHook-Allowed-Origin", "*")
	}))
	defer srv.Close()
	c := &upstream.Caller{Token: func(context.Context) (string, error) { return "tok", nil }}
	if err := c.Validate(context.Background(), srv.URL+"/validate"); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer tok" || origin != "127.0.0.1" {
		t.Errorf("Authorization %q, origin %q", auth, origin)
	}
}
