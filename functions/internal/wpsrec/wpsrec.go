// Package wpsrec is a local stand-in for the Web PubSub REST API, for tests:
// an httptest server that checks each call's bearer JWT (HS256 with the
// access key, audience = the full request URL, a lifetime) and records what
// was sent, so tests assert the exact paths and bodies the functions send.
package wpsrec

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	srv *httptest.Server
	t   testing.TB

	mu       sync.Mutex
	reqs     []Request
	failing  int // status to answer instead of success, 0 for none
	badAuth  int // calls refused for their bearer JWT
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
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
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

// Requests returns the calls recorded so far.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

func (r *Recorder) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := r.checkAuth(req); err != nil {
		r.mu.Lock()
		r.badAuth++
		expected := r.expected
		r.mu.Unlock()
		if !expected {
			r.t.Errorf("wpsrec: %s %s: %v", req.Method, req.URL.EscapedPath(), err)
		}
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, Request{
		Method:      req.Method,
		Path:        req.URL.EscapedPath(),
		RawQuery:    req.URL.RawQuery,
		ContentType: req.Header.Get("Content-Type"),
		Body:        string(body),
	})
	failing := r.failing
	r.mu.Unlock()
	if failing != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(failing)
		fmt.Fprintf(w, `{"code":"Recorded","message":"failing on purpose"}`)
		return
	}
	switch {
	case req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/:send"):
		w.WriteHeader(http.StatusAccepted)
	case req.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusOK)
	}
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
