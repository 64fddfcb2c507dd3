package cloudevents

import (
	"context"
	"sync"
	"time"
)

// callCtx is the context a callback runs with: its parent's values and
// cancellation plus the handler's Timeout. It does what
// context.WithTimeout does, but creates its Done channel (and its link to
// the parent) only when a callback asks for it; most callbacks never do, and
// per request that saves the larger part of the handler's own cost. It also
// records whether the timeout answer was written (see handler.call).
type callCtx struct {
	context.Context // the parent
	deadline        time.Time

	mu         sync.Mutex
	done       chan struct{} // made on first Done
	err        error
	stopParent func() bool // unlinks from the parent, once linked
	answered   bool        // an answer was written, or the callback returned
}

// init readies the zero callCtx c for one callback.
func (c *callCtx) init(parent context.Context, timeout time.Duration) {
	c.Context, c.deadline = parent, time.Now().Add(timeout)
}

func (c *callCtx) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err == nil {
			if err := c.Context.Err(); err != nil {
				c.err = err
			}
		}
		if c.err != nil {
			close(c.done)
		} else {
			c.stopParent = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
		}
	}
	return c.done
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.Context.Err(); err != nil {
			c.cancelLocked(err)
		}
	}
	return c.err
}

// cancel ends the context with err unless it has already ended.
func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	c.cancelLocked(err)
	c.mu.Unlock()
}

func (c *callCtx) cancelLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

// release ends the context after the callback returned and unlinks it.
func (c *callCtx) release() {
	c.mu.Lock()
	c.cancelLocked(context.Canceled)
	stop := c.stopParent
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}
