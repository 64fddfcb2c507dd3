package faas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
)

// maxInvocationBody bounds an Azure invocation payload (the host's own
// request limit for HTTP data is 100 MB; events are far smaller).
const maxInvocationBody = 8 << 20

// newAzureHandler is the custom handler for fn as the Functions host drives
// it (see Run).
func newAzureHandler(fn Function) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, fn.Name+" ready\n")
	})
	if fn.HTTP != nil {
		h := recoverHTTP(fn.HTTP)
		mux.Handle("/api/"+fn.Name, h)
		mux.Handle("/api/"+fn.Name+"/", h)
	}
	if fn.Messages != nil {
		// One app may hold several message functions of one binary
		// (relay-queue, relay-servicebus...): every POST /<Name>[-suffix].
		mux.HandleFunc("POST /{function}", func(w http.ResponseWriter, r *http.Request) {
			if name := r.PathValue("function"); name != fn.Name && !strings.HasPrefix(name, fn.Name+"-") {
				invocationError(w, r, http.StatusNotFound, fmt.Sprintf("no function %s here (this handler serves %s and %s-*)", name, fn.Name, fn.Name))
				return
			}
			serveAzureMessage(w, r, fn)
		})
	} else {
		mux.HandleFunc("POST /"+fn.Name, func(w http.ResponseWriter, r *http.Request) {
			serveInvocation(w, r, fn)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		slog.WarnContext(r.Context(), "azure: no route", "method", r.Method, "path", r.URL.Path)
		http.Error(w, fmt.Sprintf("no function at %s %s (this handler serves %s: /api/%s and POST /%s)",
			r.Method, r.URL.Path, fn.Name, fn.Name, fn.Name), http.StatusNotFound)
	})
	return mux
}

// readInvocation reads and decodes an invocation payload, answering the
// host itself (413, 400) and reporting false when it cannot.
func readInvocation(w http.ResponseWriter, r *http.Request) (*azurefn.Invocation, []byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInvocationBody))
	if err != nil {
		invocationError(w, r, http.StatusRequestEntityTooLarge, "invocation payload: "+err.Error())
		return nil, nil, false
	}
	inv, err := decodeAzure(body)
	if err != nil {
		invocationError(w, r, http.StatusBadRequest, err.Error())
		return nil, nil, false
	}
	return inv, body, true
}

func serveInvocation(w http.ResponseWriter, r *http.Request, fn Function) {
	inv, body, ok := readInvocation(w, r)
	if !ok {
		return
	}
	ctx := azurefn.NewContext(r.Context(), inv)
	if fn.HTTP != nil {
		if d, name, ok := inv.HTTPRequest(); ok {
			serveHTTPInvocation(w, r.WithContext(ctx), fn, d, name)
			return
		}
		if fn.Scheduled == nil {
			invocationError(w, r, http.StatusBadRequest, fmt.Sprintf("faas: bad azure payload: %s is an HTTP function but the payload carries no HTTP trigger data", fn.Name))
			return
		}
	}
	ev := azureScheduleEvent(inv, body, time.Now())
	if err := runScheduled(ctx, fn, ev); err != nil {
		// A non-2xx answer fails the invocation in the host (and its logs show Logs).
		writeAzure(w, http.StatusInternalServerError, azurefn.Response{Outputs: map[string]any{}, Logs: []string{fn.Name + " failed: " + err.Error()}})
		return
	}
	writeAzure(w, http.StatusOK, azurefn.Response{Outputs: map[string]any{}, Logs: []string{fmt.Sprintf("%s ran for schedule time %s", fn.Name, ev.Time.Format(time.RFC3339Nano))}})
}

func invocationError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	slog.WarnContext(r.Context(), "azure: rejected invocation", "status", status, "error", msg)
	writeAzure(w, status, azurefn.Response{Outputs: map[string]any{}, Logs: []string{msg}})
}

func writeAzure(w http.ResponseWriter, status int, resp azurefn.Response) {
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// serveHTTPInvocation runs fn.HTTP on the request described by d and answers
// with it as the HTTP output binding "res" (and as ReturnValue, for a
// "$return" output).
func serveHTTPInvocation(w http.ResponseWriter, r *http.Request, fn Function, d *azurefn.HTTPRequest, binding string) {
	req, err := d.NewRequest(r.Context())
	if err != nil {
		invocationError(w, r, http.StatusBadRequest, "faas: bad azure payload: "+err.Error())
		return
	}
	req.RemoteAddr = r.RemoteAddr
	rec := &bufferWriter{header: http.Header{}}
	recoverHTTP(fn.HTTP).ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if !utf8.Valid(rec.body.Bytes()) {
		// The binding's body is a JSON string: bytes that are not UTF-8
		// would reach the caller altered. Say so instead.
		msg := fmt.Sprintf("faas: %s answered %d bytes of binary data, which an Azure HTTP output binding cannot carry; "+
			"set enableForwardingHttpRequest in host.json (the deployed configuration does)", fn.Name, rec.body.Len())
		slog.ErrorContext(r.Context(), "azure: answer not deliverable", "status", rec.code, "error", msg)
		rec.code, rec.header = http.StatusInternalServerError, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
		rec.body.Reset()
		rec.body.WriteString(msg)
	}
	headers := map[string]string{}
	for k, v := range rec.header {
		headers[k] = strings.Join(v, ",")
	}
	out := map[string]any{
		"statusCode": strconv.Itoa(rec.code),
		"headers":    headers,
		"body":       rec.body.String(),
	}
	writeAzure(w, http.StatusOK, azurefn.Response{
		Outputs:     map[string]any{"res": out},
		Logs:        []string{fmt.Sprintf("%s %s -> %d (binding %s)", req.Method, req.URL.Path, rec.code, binding)},
		ReturnValue: out,
	})
}

// bufferWriter collects a handler's answer for an HTTP output binding.
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
