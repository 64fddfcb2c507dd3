package faas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wpsfn/wpsfn/internal/shutdown"
)

// maxScheduleBody bounds the payload a schedule trigger may carry.
const maxScheduleBody = 1 << 20

// Serve runs fn's local mode on ln until ctx ends, then shuts down gracefully
// (in-flight requests get a few seconds) and returns nil; any other error
// means the server failed. It is what Run uses when no cloud host is found,
// and what `wpsfn dev` uses to serve the functions.
//
// An HTTP function is served on every path. A scheduled function runs once
// per `POST /` (the body, if any, is passed as ScheduleEvent.Raw); a function
// with both is scheduled through `POST /_schedule` instead.
func Serve(ctx context.Context, ln net.Listener, fn Function) error {
	if err := fn.validate(); err != nil {
		ln.Close()
		return err
	}
	// `wpsfn dev` serves several functions in one process: say which.
	return serve(ctx, ln, Handler(fn, HostLocal), HostLocal, slog.Default().With("function", fn.Name))
}

// scheduleHTTP runs fn.Scheduled once for each POST. It is also how Cloud
// Scheduler's HTTP target reaches a scheduled function on Google Cloud.
func scheduleHTTP(fn Function, host Host) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, fmt.Sprintf("%s is a scheduled function: POST to run it once", fn.Name), http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxScheduleBody))
		if err != nil {
			http.Error(w, "schedule payload: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		ev := ScheduleEvent{Time: time.Now().UTC(), Host: host, Raw: rawJSON(body)}
		if err := runScheduled(r.Context(), fn, ev); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// runScheduled calls fn.Scheduled, turning a panic into an error and logging
// the outcome with its duration.
func runScheduled(ctx context.Context, fn Function, ev ScheduleEvent) (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v", fn.Name, p)
		}
		if err != nil {
			slog.ErrorContext(ctx, "scheduled run failed", "function", fn.Name, "from", ev.Host, "time", ev.Time, "error", err.Error(), "duration", time.Since(start))
			return
		}
		slog.InfoContext(ctx, "scheduled run", "function", fn.Name, "from", ev.Host, "time", ev.Time, "duration", time.Since(start))
	}()
	return fn.Scheduled(ctx, ev)
}

// recoverHTTP answers 500 instead of letting a handler's panic reach the
// caller (or, under lambdaurl, kill the process from its goroutine).
func recoverHTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &trackingWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					return
				}
				slog.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if !rw.wrote {
					http.Error(rw, "internal error", http.StatusInternalServerError)
				}
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and deadlines underneath.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *trackingWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// serve runs h on ln until ctx ends, then shuts down gracefully, logging to
// log (which says which function).
func serve(ctx context.Context, ln net.Listener, h http.Handler, host Host, log *slog.Logger) error {
	mode := host.String()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	conns := shutdown.Track(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", mode, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "mode", mode)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := conns.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("%s server shutdown: %w", mode, err)
	}
	return nil
}

// Handler returns fn's local-mode handler (see Serve), with scheduled runs
// reported as coming from host. Google Cloud's entry (the module root
// package) uses it with HostGCP, so Cloud Scheduler's HTTP target runs a
// scheduled function exactly as `POST /` does locally.
func Handler(fn Function, host Host) http.Handler {
	switch {
	case fn.Messages != nil:
		return messagesHTTP(fn)
	case fn.HTTP != nil && fn.Scheduled != nil:
		mux := http.NewServeMux()
		mux.Handle("/", recoverHTTP(fn.HTTP))
		mux.Handle("/_schedule", scheduleHTTP(fn, host))
		return mux
	case fn.HTTP != nil:
		return recoverHTTP(fn.HTTP)
	case fn.Scheduled != nil:
		return scheduleHTTP(fn, host)
	default:
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, fmt.Sprintf("function %q has no trigger", fn.Name), http.StatusNotImplemented)
		})
	}
}

// rawJSON keeps a payload as JSON for ScheduleEvent.Raw: JSON as it is,
// anything else as a JSON string; nothing stays empty.
func rawJSON(body []byte) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	if json.Valid(body) {
		return body
	}
	b, err := json.Marshal(string(body))
	if err != nil { // cannot happen: a string always marshals
		return nil
	}
	return b
}

// RunScheduled runs fn.Scheduled once for ev the way every host does: a
// panic becomes an error, and the outcome is logged with its duration.
func RunScheduled(ctx context.Context, fn Function, ev ScheduleEvent) error {
	if fn.Scheduled == nil {
		return fmt.Errorf("%w: %s has no Scheduled trigger", ErrInvalidFunction, fn.Name)
	}
	return runScheduled(ctx, fn, ev)
}
