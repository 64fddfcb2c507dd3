// Package faas serves one wpsfn function on whichever host runs it: AWS Lambda
// (function URLs and schedules), an Azure Functions custom handler (forwarded
// HTTP and timer invocation payloads) or a plain HTTP server on $PORT for local
// runs and containers. Google Cloud Functions builds the module root package
// instead (see functions.go there), so it needs no branch here.
//
// A function's code is an http.Handler or a scheduled func; it never learns
// which host it is on.
package faas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Function is one independently deployed function.
type Function struct {
	// Name is the Azure function name and route (/api/<Name>), the Lambda
	// function and the base of the Google Cloud entry point: "connect",
	// "message", "broadcast", "broadcast-schedule", "negotiate".
	Name string
	// HTTP is set for HTTP-triggered functions.
	HTTP http.Handler
	// Scheduled is set for timer/schedule-triggered functions.
	Scheduled func(ctx context.Context, ev ScheduleEvent) error
	// Messages is set for queue, topic and event bus triggers (see Message);
	// such a function has neither HTTP nor Scheduled. Its error makes the
	// host redeliver the message unless it is a PermanentError.
	Messages func(ctx context.Context, m Message) error
}

// ScheduleEvent describes one scheduled invocation.
type ScheduleEvent struct {
	// Time is when the schedule fired, as the host reports it (UTC); the
	// current time when the host gives none.
	Time time.Time
	// Host is where the invocation came from.
	Host Host
	// Raw is the host's payload as received (JSON), for callers that need
	// more than the time. It may be empty for local runs. The decoded form
	// is in the context: azurefn.FromContext, lambdafn.EventFromContext,
	// gcpfn.EventFromContext.
	Raw json.RawMessage
}

// ErrInvalidFunction is returned (wrapped) when a Function cannot be served.
var ErrInvalidFunction = errors.New("faas: invalid function")

func (fn Function) validate() error {
	if fn.Name == "" {
		return fmt.Errorf("%w: empty Name", ErrInvalidFunction)
	}
	if strings.ContainsAny(fn.Name, "/ ?#%") {
		return fmt.Errorf("%w: name %q must be a single path segment", ErrInvalidFunction, fn.Name)
	}
	if fn.Messages != nil && (fn.HTTP != nil || fn.Scheduled != nil) {
		return fmt.Errorf("%w: %s has Messages and another trigger set; a message function stands alone", ErrInvalidFunction, fn.Name)
	}
	if fn.HTTP == nil && fn.Scheduled == nil && fn.Messages == nil {
		return fmt.Errorf("%w: %s has neither HTTP, Scheduled nor Messages set", ErrInvalidFunction, fn.Name)
	}
	return nil
}

// readTimeout bounds reading a whole request, body included, on the local
// server: a client trickling a body cannot hold a connection (or the drain
// of an unread body before an early answer) for longer. A variable for tests.
var readTimeout = 30 * time.Second

// shutdownTimeout bounds how long in-flight requests may finish after SIGTERM.
// Lambda and Azure give a process a few seconds at most; Cloud Run 10 s.
const shutdownTimeout = 8 * time.Second

// Run serves fn on the detected host until SIGTERM (or SIGINT) and returns
// after a graceful shutdown (on Lambda, the runtime ends the process).
//
//   - Lambda: an HTTP function is served through aws-lambda-go's lambdaurl,
//     so its function URL must use InvokeMode RESPONSE_STREAM; a scheduled
//     one takes EventBridge rule events or a Scheduler Input (see
//     lambdafn.ScheduleTime); a function with both tells them apart.
//   - Azure custom handler: it listens on 127.0.0.1 at
//     FUNCTIONS_CUSTOMHANDLER_PORT. `GET /` answers the host's readiness
//     poll; forwarded HTTP requests (enableForwardingHttpRequest) arrive at
//     /api/<Name> (and below) and go to fn.HTTP as they are; `POST /<Name>`
//     carries an invocation payload (azurefn.Invocation): a timer for
//     fn.Scheduled or, for an HTTP function deployed with extra bindings, an
//     HTTP trigger's request, answered through the output binding "res".
//   - Otherwise: Serve on $PORT (default 8080), all interfaces unless HOST
//     is set.
//
// It sets slog's default logger to JSON on stderr
// (level from LOG_LEVEL: debug, info, warn, error), which every host collects.
// On a failure to start it prints one line to stderr and exits with status 1.
func Run(fn Function) {
	if err := run(fn, os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", progName(fn.Name), err)
		os.Exit(1)
	}
}

func progName(name string) string {
	if name == "" {
		return "faas"
	}
	return name
}

func run(fn Function, getenv func(string) string) error {
	if err := fn.validate(); err != nil {
		return err
	}
	host := DetectHost(getenv)
	slog.SetDefault(newLogger(getenv("LOG_LEVEL")).With("function", fn.Name, "host", host.String()))

	switch host {
	case HostLambda:
		// lambda.Start never returns: it exits the process itself.
		startLambda(fn)
		return nil
	case HostAzure:
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		port := getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
		// The host connects to 127.0.0.1:<port>; bind loopback only.
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			return fmt.Errorf("azure custom handler: listen on port %s: %w", port, err)
		}
		slog.Info("serving azure custom handler", "addr", ln.Addr().String())
		return serve(ctx, ln, newAzureHandler(fn), host, slog.Default())
	default:
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		port := getenv("PORT")
		if port == "" {
			port = "8080"
		}
		// HOST narrows the bind address (e.g. 127.0.0.1 in tests); containers
		// need every interface, the default.
		ln, err := net.Listen("tcp", net.JoinHostPort(getenv("HOST"), port))
		if err != nil {
			return fmt.Errorf("listen on port %s: %w", port, err)
		}
		slog.Info("serving locally", "addr", ln.Addr().String())
		return serve(ctx, ln, Handler(fn, HostLocal), host, slog.Default())
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
