package wps

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// recorded is one request as a recording server saw it on the wire.
type recorded struct {
	Method        string `json:"method"`
	Path          string `json:"path"`     // escaped, as on the request line
	RawQuery      string `json:"rawQuery"` // as on the request line
	ContentType   string `json:"contentType"`
	Body          string `json:"body"`
	Authorization string `json:"authorization"`
	Host          string `json:"host"`
}

// recorder is a local HTTP server that records every request and answers
// with status(r) (default: the REST API's success status for the operation).
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(w http.ResponseWriter, r *http.Request, n int)
}

func newRecorder(t testing.TB) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		path, query := splitRequestURI(r.RequestURI)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{
			Method: r.Method, Path: path, RawQuery: query,
			ContentType: r.Header.Get("Content-Type"), Body: string(body),
			Authorization: r.Header.Get("Authorization"), Host: r.Host,
		})
		n := len(rec.reqs)
		answer := rec.answer
		rec.mu.Unlock()
		if answer != nil {
			answer(w, r, n)
			return
		}
		w.WriteHeader(successStatus(r.Method, path))
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func splitRequestURI(uri string) (string, string) {
	for i := 0; i < len(uri); i++ {
		if uri[i] == '?' {
			return uri[:i], uri[i+1:]
		}
	}
	return uri, ""
}

// successStatus is the status the service answers a successful call with.
func successStatus(method, path string) int {
	switch {
	case method == "POST" && hasSuffix(path, "/:send"):
		return http.StatusAccepted
	case method == "DELETE", method == "POST" && hasSuffix(path, "/:closeConnections"):
		return http.StatusNoContent
	}
	return http.StatusOK
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

func (rec *recorder) reset() {
	rec.mu.Lock()
	rec.reqs = nil
	rec.mu.Unlock()
}

// redirectingClient is an HTTP client that sends every connection to the
// recorder, whatever host the URL names: the client under test can then use
// the recorded endpoint (http://127.0.0.1:18091) unchanged.
func (rec *recorder) redirectingClient() *http.Client {
	addr := rec.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}
}
