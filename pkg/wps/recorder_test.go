package wps

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/wpsfn/wpsfn/internal/httprec"
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

// recorder is an internal/httprec server whose answers a test may replace
// by setting answer (before the calls it answers); nil answers with the REST
// API's success status for the operation.
type recorder struct {
	*httprec.Server
	answer httprec.AnswerFunc
}

func newRecorder(t testing.TB) *recorder {
	rec := &recorder{}
	rec.Server = httprec.New(t, httprec.Options{Answer: func(w http.ResponseWriter, r *http.Request, n int) {
		if rec.answer != nil {
			rec.answer(w, r, n)
			return
		}
		httprec.RESTAnswer(w, r, n)
	}})
	return rec
}

func (rec *recorder) requests() []recorded {
	var out []recorded
	for _, r := range rec.Requests() {
		out = append(out, recorded{
			Method: r.Method, Path: r.Path, RawQuery: r.RawQuery,
			ContentType: r.Header.Get("Content-Type"), Body: string(r.Body),
			Authorization: r.Header.Get("Authorization"), Host: r.Host,
		})
	}
	return out
}

func (rec *recorder) reset() { rec.Reset() }

// redirectingClient is an HTTP client that sends every connection to the
// recorder, whatever host the URL names: the client under test can then use
// the recorded endpoint (http://127.0.0.1:18091) unchanged.
func (rec *recorder) redirectingClient() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, rec.Addr)
		},
	}
	return &http.Client{Transport: tr}
}
