package azurefn

import "context"

type invocationKey struct{}

// NewContext returns a copy of ctx that carries inv; pkg/faas calls it for
// every invocation payload, and tests of a function can too.
func NewContext(ctx context.Context, inv *Invocation) context.Context {
	return context.WithValue(ctx, invocationKey{}, inv)
}

// FromContext returns the invocation a function runs for: its bindings and
// metadata. It reports false for forwarded HTTP requests, which carry no
// invocation payload, and off Azure.
func FromContext(ctx context.Context) (*Invocation, bool) {
	inv, ok := ctx.Value(invocationKey{}).(*Invocation)
	return inv, ok && inv != nil
}
