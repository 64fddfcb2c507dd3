// Package httprec is a loopback HTTP server for tests that records every
// request as it came over the wire and answers as the test says. It stands
// in for the Web PubSub REST API (or any other upstream) wherever a test
// asserts what was sent: pkg/wps's client tests, the functions' tests
// (through functions/internal/wpsrec) and the host tests (through
// internal/faastest).
package httprec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one recorded request.
type Request struct {
	Method   string
	Path     string // escaped, as on the request line
	RawQuery string // as on the request line
	Host     string
	Header   http.Header
	Body     []byte
}

// AnswerFunc answers r, the n-th request recorded (counting from 1).
type AnswerFunc func(w http.ResponseWriter, r *http.Request, n int)

// Options configures a Server; the zero value answers as the REST API does
// to a successful call (see RESTStatus).
type Options struct {
	// Check, when set, vets each request first: a request it returns an
	// error for is answered 401 with the error's text and not recorded.
	Check func(r *http.Request) error
	// Answer answers each recorded request; nil means RESTAnswer.
	Answer AnswerFunc
}

// Server is a recording server. Use New.
type Server struct {
	// URL is the base URL, http://127.0.0.1:<port>.
	URL string
	// Addr is the listener's address, 127.0.0.1:<port>.
	Addr string

	opts Options
	ch   chan struct{} // a token per recorded request, for WaitN
	mu   sync.Mutex
	reqs []Request
}

// New starts a Server that is closed when t ends.
func New(t testing.TB, opts Options) *Server {
	s := &Server{opts: opts, ch: make(chan struct{}, 1)}
	if s.opts.Answer == nil {
		s.opts.Answer = RESTAnswer
	}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL, s.Addr = srv.URL, srv.Listener.Addr().String()
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if s.opts.Check != nil {
		if err := s.opts.Check(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
	}
	path, query, _ := strings.Cut(r.RequestURI, "?")
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: path, RawQuery: query, Host: r.Host, Header: r.Header.Clone(), Body: body})
	n := len(s.reqs)
	s.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
	default:
	}
	s.opts.Answer(w, r, n)
}

// Requests returns the requests recorded so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// WaitN waits until n requests are recorded and returns them; it fails t
// when timeout passes first.
func (s *Server) WaitN(t testing.TB, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := s.Requests(); len(got) >= n {
			return got
		}
		select {
		case <-s.ch:
		case <-deadline:
			got := s.Requests()
			t.Fatalf("httprec: got %d requests, want %d: %+v", len(got), n, got)
		}
	}
}

// Status returns an AnswerFunc that answers every request with code.
func Status(code int) AnswerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

// RESTAnswer answers with RESTStatus.
func RESTAnswer(w http.ResponseWriter, r *http.Request, _ int) {
	w.WriteHeader(RESTStatus(r.Method, r.URL.Path))
}

// RESTStatus is the status the Web PubSub REST API answers a successful
// call with: 202 for a send, 204 for a delete or a close, 200 otherwise.
func RESTStatus(method, path string) int {
	switch {
	case method == http.MethodPost && strings.HasSuffix(path, "/:send"):
		return http.StatusAccepted
	case method == http.MethodDelete, method == http.MethodPost && strings.HasSuffix(path, "/:closeConnections"):
		return http.StatusNoContent
	}
	return http.StatusOK
}
