// Package wpsrec is a local stand-in for the Web PubSub REST API, for tests:
// an internal/httprec server that checks each call's bearer JWT (HS256 with the
// access key, audience = the full request URL, a lifetime) and records what
// was sent, so tests assert the exact paths and bodies the functions send.
package wpsrec

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/httprec"
)

// AccessKey is the recorder's access key.
const AccessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="

// Request is one recorded REST call.
type Request struct {
	Method      string
	Path        string // escaped, as on the wire
	RawQuery    string
	ContentType string
	Body        string
}

// Recorder records REST calls. Use New.
type Recorder struct {
	srv *httprec.Server
	t   testing.TB

	mu       sync.Mutex
	failing  int             // status to answer instead of success, 0 for none
	gone     map[string]bool // connection ids whose existence check answers 404
	badAuth  int             // calls refused for their bearer JWT
	expected bool
}

// ExpectAuthFailures stops refused bearer JWTs from failing the test (for
// tests of the recorder itself); AuthFailures counts them.
func (r *Recorder) ExpectAuthFailures() {
	r.mu.Lock()
	r.expected = true
	r.mu.Unlock()
}

// AuthFailures is the number of calls refused for their bearer JWT.
func (r *Recorder) AuthFailures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badAuth
}

// New starts a recorder closed at the end of the test.
func New(t testing.TB) *Recorder {
	r := &Recorder{t: t}
	r.srv = httprec.New(t, httprec.Options{Check: r.check, Answer: r.answer})
	return r
}

// ConnectionString points pkg/wps at the recorder.
func (r *Recorder) ConnectionString() string {
	return "Endpoint=" + r.srv.URL + ";AccessKey=" + AccessKey + ";Version=1.0;"
}

// URL is the recorder's base URL.
func (r *Recorder) URL() string { return r.srv.URL }

// Fail makes every later call answer status (0 restores success).
func (r *Recorder) Fail(status int) {
	r.mu.Lock()
	r.failing = status
	r.mu.Unlock()
}

// Gone makes ConnectionExists (HEAD .../connections/{id}) answer 404 for
// connectionID from now on: a connection that closed unseen by the caller.
func (r *Recorder) Gone(connectionID string) {
	r.mu.Lock()
	if r.gone == nil {
		r.gone = map[string]bool{}
	}
	r.gone[connectionID] = true
	r.mu.Unlock()
}

// Requests returns the calls recorded so far.
func (r *Recorder) Requests() []Request {
	var out []Request
	for _, q := range r.srv.Requests() {
		out = append(out, Request{Method: q.Method, Path: q.Path, RawQuery: q.RawQuery,
			ContentType: q.Header.Get("Content-Type"), Body: string(q.Body)})
	}
	return out
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() { r.srv.Reset() }

func (r *Recorder) answer(w http.ResponseWriter, req *http.Request, n int) {
	r.mu.Lock()
	failing := r.failing
	_, id, isConn := strings.Cut(req.URL.Path, "/connections/")
	gone := req.Method == http.MethodHead && isConn && r.gone[id]
	r.mu.Unlock()
	if gone {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if failing == 0 {
		httprec.RESTAnswer(w, req, n)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(failing)
	fmt.Fprintf(w, `{"code":"Recorded","message":"failing on purpose"}`)
}

// check refuses a call whose bearer JWT is not valid, failing the test
// unless ExpectAuthFailures was called.
func (r *Recorder) check(req *http.Request) error {
	err := r.checkAuth(req)
	if err == nil {
		return nil
	}
	r.mu.Lock()
	r.badAuth++
	expected := r.expected
	r.mu.Unlock()
	if !expected {
		r.t.Errorf("wpsrec: %s %s: %v", req.Method, req.URL.EscapedPath(), err)
	}
	return err
}

func (r *Recorder) checkAuth(req *http.Request) error {
	h := req.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return fmt.Errorf("no bearer token")
	}
	aud := r.srv.URL + req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		aud += "?" + req.URL.RawQuery
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(aud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second)).
		ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(AccessKey), nil })
	if err != nil {
		return fmt.Errorf("bearer JWT: %w", err)
	}
	return nil
}
