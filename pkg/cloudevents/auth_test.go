package cloudevents

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// refuse is an Authenticator that always refuses with err.
func refuse(err error) Authenticator {
	return AuthenticatorFunc(func(*http.Request) error { return err })
}

var accept = AuthenticatorFunc(func(*http.Request) error { return nil })

// TestAuthenticators: how AnyOf and AllOf compose, and what the handler
// answers for each refusal, before any callback and before the body is read.
func TestAuthenticators(t *testing.T) {
	bearer := errors.New("missing Authorization bearer token")
	for _, tc := range []struct {
		name   string
		auth   Authenticator
		status int
		body   string
	}{
		{"keys", NewKeys(testKey), 200, "ok"},
		{"other keys", NewKeys("other"), 401, "ce-signature does not match any access key"},
		{"any of keys or bearer, signed", AnyOf(NewKeys(testKey), refuse(bearer)), 200, "ok"},
		{"any of bearer or keys, signed", AnyOf(refuse(bearer), NewKeys(testKey)), 200, "ok"},
		{"any of, neither", AnyOf(NewKeys("other"), refuse(bearer)), 401,
			"ce-signature does not match any access key; missing Authorization bearer token"},
		{"any of nothing", AnyOf(), 401, ErrNoAuthenticator.Error()},
		{"all of keys and accept", AllOf(NewKeys(testKey), accept), 200, "ok"},
		{"all of keys and bearer", AllOf(NewKeys(testKey), refuse(bearer)), 401, "missing Authorization bearer token"},
		{"all of nothing", AllOf(), 401, ErrNoAuthenticator.Error()},
		{"an *Error keeps its status", refuse(Errorf(403, "caller %s is not pinned", "x")), 403, "caller x is not pinned"},
		{"any of keeps the first *Error", AnyOf(refuse(Errorf(403, "not pinned")), NewKeys("other")), 403, "not pinned"},
		{"multi-line reason", refuse(errors.New("a\nb")), 401, "a b"},
		{"no authentication", NoAuthentication, 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var called atomic.Bool
			h := &Handler{Hub: "chat", Authenticator: tc.auth, Logger: quietLogger(),
				UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
					called.Store(true)
					return &UserEventResponse{Data: []byte("ok")}, nil
				}}
			body := &watchedBody{r: strings.NewReader("x")}
			req := httptest.NewRequest("POST", "/", body)
			for k, v := range signedHeaders(TypeUserPrefix + "message") {
				req.Header.Set(k, v)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			if rr.Code != tc.status || rr.Body.String() != tc.body {
				t.Errorf("answer %d %q, want %d %q", rr.Code, rr.Body, tc.status, tc.body)
			}
			if refused := tc.status != 200; refused && (called.Load() || body.read.Load()) {
				t.Errorf("refused, yet callback ran (%v) or body was read (%v)", called.Load(), body.read.Load())
			}
		})
	}
}

// watchedBody records whether anything read it.
type watchedBody struct {
	r    *strings.Reader
	read atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

// TestKeysRotation: after Set, the new key verifies and a removed key does
// not, even for a connection whose MACs were cached under the old keys;
// signing follows the same keys.
func TestKeysRotation(t *testing.T) {
	k := NewKeys("key-1")
	check := func(step, key string, want error) {
		t.Helper()
		req := httptest.NewRequest("POST", "/", nil)
		req.Header.Set("ce-connectionId", "c1")
		req.Header.Set("ce-signature", Sign("c1", key))
		if err := k.Authenticate(req); !errors.Is(err, want) {
			t.Errorf("%s: signed with %s: %v, want %v", step, key, err, want)
		}
	}
	check("before", "key-1", nil) // c1's MACs are now cached
	check("before", "key-2", ErrBadSignature)
	if got, want := k.Sign("c1"), Sign("c1", "key-1"); got != want {
		t.Errorf("Sign before: %s, want %s", got, want)
	}
	k.Set("key-1", "key-2")
	check("both", "key-1", nil)
	check("both", "key-2", nil)
	if got, want := k.Sign("c1"), Sign("c1", "key-1", "key-2"); got != want {
		t.Errorf("Sign with both: %s, want %s", got, want)
	}
	k.Set("key-2", "")
	check("after", "key-1", ErrBadSignature)
	check("after", "key-2", nil)
	if k.Len() != 1 || k.Sign("c1") != Sign("c1", "key-2") {
		t.Errorf("after: %d keys, Sign %s", k.Len(), k.Sign("c1"))
	}
	k.Set()
	check("none", "key-2", ErrNoKeys)
	if k.Sign("c1") != "" {
		t.Error("Sign without keys signed")
	}
	var nilKeys *Keys
	if nilKeys.Sign("c1") != "" || nilKeys.Len() != 0 {
		t.Error("nil Keys signed")
	}
}

// TestKeysRotateWhileServing: requests keep being verified while the keys
// change under them (run with -race); each answer matches a key set that was
// current during the request.
func TestKeysRotateWhileServing(t *testing.T) {
	keys := NewKeys("a")
	h := &Handler{Hub: "chat", Keys: keys, Logger: quietLogger()}
	srv := httptest.NewServer(h)
	defer srv.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				keys.Set("a", "b")
			} else {
				keys.Set("a")
			}
		}
	}()
	for i := range 200 {
		ev := &ConnectedRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "c" + string(rune('a'+i%26))}}
		ans, err := send(context.Background(), srv.URL, ev, "a")
		if err != nil || ans.Status != 200 {
			t.Fatalf("signed with the key that is never removed: %v %+v", err, ans)
		}
		if ans, err = send(context.Background(), srv.URL, ev, "z"); err != nil || ans.Status != 401 {
			t.Fatalf("signed with a key never set: %v %+v", err, ans)
		}
	}
	close(stop)
	wg.Wait()
}
