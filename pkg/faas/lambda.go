package faas

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

// startLambda serves fn through the Lambda runtime API; it never returns.
//
// HTTP functions go through aws-lambda-go's lambdaurl package, which needs
// the function URL in InvokeMode RESPONSE_STREAM (template.yaml sets it):
// the answer streams, so nothing is buffered in the function and the
// status and headers leave at the first write. Scheduled functions take the
// EventBridge rule envelope or an EventBridge Scheduler Input.
func startLambda(fn Function) {
	opts := []lambda.Option{lambda.WithEnableSIGTERM(func() {
		slog.Info("SIGTERM received; shutting down")
	})}
	switch {
	case fn.Messages != nil:
		lambda.StartWithOptions(lambdaMessagesHandler(fn), opts...)
	case fn.HTTP != nil && fn.Scheduled != nil:
		lambda.StartWithOptions(lambdaDispatch(fn), opts...)
	case fn.HTTP != nil:
		lambda.StartHandlerFunc(lambdaURLHandler(fn.HTTP), opts...)
	default:
		lambda.StartWithOptions(lambdaScheduleHandler(fn), opts...)
	}
}

// lambdaURLHandler is lambdaurl.Wrap with two guards: an event that is not a
// function URL request gets a clear error instead of an empty request, and
// a handler's panic becomes a 500 instead of killing the runtime (lambdaurl
// runs the handler in its own goroutine, where nothing recovers).
func lambdaURLHandler(h http.Handler) func(context.Context, *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
	wrapped := lambdaurl.Wrap(recoverHTTP(h))
	return func(ctx context.Context, req *events.LambdaFunctionURLRequest) (*events.LambdaFunctionURLStreamingResponse, error) {
		if req == nil || req.RequestContext.HTTP.Method == "" {
			err := &PayloadError{Host: HostLambda, Reason: "not a function URL request (requestContext.http.method is missing)"}
			slog.WarnContext(ctx, "lambda: rejected event", "error", err.Error())
			return nil, err
		}
		// Function URLs move the Cookie header into "cookies"; lambdaurl does
		// not put it back.
		if len(req.Cookies) > 0 && req.Headers["cookie"] == "" {
			hs := make(map[string]string, len(req.Headers)+1)
			for k, v := range req.Headers {
				hs[k] = v
			}
			hs["cookie"] = strings.Join(req.Cookies, "; ")
			r := *req
			r.Headers = hs
			req = &r
		}
		return wrapped(ctx, req)
	}
}

func lambdaScheduleHandler(fn Function) func(context.Context, json.RawMessage) error {
	return func(ctx context.Context, raw json.RawMessage) error {
		ctx = lambdafn.NewContext(ctx, raw)
		ev, err := lambdaScheduleEvent(raw, time.Now())
		if err != nil {
			slog.WarnContext(ctx, "lambda: rejected event", "error", err.Error())
			return err
		}
		return runScheduled(ctx, fn, ev)
	}
}

// lambdaDispatch serves a function with both triggers: function URL
// requests go to HTTP, everything else to Scheduled.
func lambdaDispatch(fn Function) func(context.Context, json.RawMessage) (any, error) {
	urlh := lambdaURLHandler(fn.HTTP)
	sched := lambdaScheduleHandler(fn)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if lambdafn.IsFunctionURLRequest(raw) {
			var req events.LambdaFunctionURLRequest
			if err := json.Unmarshal(raw, &req); err != nil {
				return nil, &PayloadError{Host: HostLambda, Reason: "function URL request does not decode", Err: err}
			}
			return urlh(ctx, &req)
		}
		return nil, sched(ctx, raw)
	}
}
