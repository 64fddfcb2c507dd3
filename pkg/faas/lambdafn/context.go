package lambdafn

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdaurl"
)

type eventKey struct{}

// NewContext returns a copy of ctx that carries the event raw; pkg/faas
// calls it for every event that is not a function URL request, and tests of
// a function can too.
func NewContext(ctx context.Context, raw json.RawMessage) context.Context {
	return context.WithValue(ctx, eventKey{}, raw)
}

// EventFromContext returns the event a scheduled (or other non-HTTP)
// invocation runs for, as Lambda delivered it. It reports false for
// function URL requests (see RequestFromContext) and off Lambda.
func EventFromContext(ctx context.Context) (json.RawMessage, bool) {
	raw, ok := ctx.Value(eventKey{}).(json.RawMessage)
	return raw, ok
}

// RequestFromContext returns the function URL request an HTTP function
// serves, as aws-lambda-go's lambdaurl.RequestFromContext does: the request
// context (request id, source IP, authorizer) that http.Request lacks.
func RequestFromContext(ctx context.Context) (*events.LambdaFunctionURLRequest, bool) {
	return lambdaurl.RequestFromContext(ctx)
}
