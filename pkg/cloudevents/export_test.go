package cloudevents

import (
	"context"
	"time"
)

// Test-only entry points to unexported code, kept out of production files.

// decodeConnectFast is decodeConnect over a body, without an arena.
func decodeConnectFast(b []byte, req *ConnectRequest) bool {
	return decodeConnect(string(b), req, nil)
}

// newCallCtx is a callCtx ready for one callback.
func newCallCtx(parent context.Context, timeout time.Duration) *callCtx {
	c := &callCtx{}
	c.init(parent, timeout)
	return c
}
