package emulator

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	ceupstream "github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

var notifyBackoff = []time.Duration{200 * time.Millisecond, time.Second, 3 * time.Second}

// notify queues a notification event for c, delivered in order with retries.
func (u *upstream) notify(c *conn, kind, event string, build func(cloudevents.ConnectionContext) cloudevents.Event) {
	eh := handlerFor(c.h, kind, event)
	if eh == nil {
		return
	}
	cc := c.context(event)
	ev := build(cc)
	h := c.h
	// Group presence events are the ones a client can cause at will (join,
	// leave, join...); past a bound they are dropped rather than queued
	// without limit behind a slow handler. connected/disconnected always queue.
	if kind == "group" && c.async.pending() >= maxPendingGroupEvents {
		u.s.log.Warn("emulator: group event dropped: too many notifications pending for the connection", "hub", c.h.name, "event", event, "connectionId", c.id)
		return
	}
	c.async.push(u.s, func() {
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(u.s.ctx, u.s.cfg.UpstreamTimeout)
			ans, err := u.call(ctx, h, eh, event, ev, &cc)
			cancel()
			if err == nil && (ans.OK() || !retryable(ans.Status)) {
				if !ans.OK() {
					u.s.log.Warn("emulator: event handler refused a notification", "hub", h.name, "event", event, "status", ans.Status)
				}
				return
			}
			if attempt >= len(notifyBackoff) {
				u.s.log.Warn("emulator: notification dropped after retries", "hub", h.name, "event", event, "connectionId", cc.ConnectionID)
				return
			}
			var ve *ceupstream.ValidationError
			if errors.As(err, &ve) && attempt > 0 {
				return // validation failures are not transient
			}
			u.backoff(notifyBackoff[attempt])
		}
	})
}

// backoff waits d before a retry, or not at all once shutdown began: the
// disconnected events of a shutdown get their attempts without the waits, so
// Shutdown is not held up by a handler that is down.
func (u *upstream) backoff(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-u.s.shutdown:
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

func (u *upstream) connected(c *conn) {
	u.notify(c, "system", "connected", func(cc cloudevents.ConnectionContext) cloudevents.Event {
		return &cloudevents.ConnectedRequest{ConnectionContext: cc}
	})
}

func (u *upstream) disconnected(c *conn, reason string) {
	u.notify(c, "system", "disconnected", func(cc cloudevents.ConnectionContext) cloudevents.Event {
		req := &cloudevents.DisconnectedRequest{ConnectionContext: cc, Reason: reason}
		if c.mq != nil {
			req.MQTT = c.mq.disconnectedProps()
		}
		return req
	})
}

func (u *upstream) groupEvent(c *conn, event, group string) {
	u.notify(c, "group", event, func(cc cloudevents.ConnectionContext) cloudevents.Event {
		if event == "left" {
			cc.Type = cloudevents.TypeGroupLeft
		} else {
			cc.Type = cloudevents.TypeGroupJoined
		}
		return &cloudevents.GroupEventRequest{ConnectionContext: cc, Group: group}
	})
}

// maxPendingGroupEvents bounds the notifications a connection may have
// waiting when a group presence event is added.
const maxPendingGroupEvents = 256

// asyncQueue runs a connection's notifications one at a time, in order,
// with no goroutine while idle.
type asyncQueue struct {
	mu      sync.Mutex
	q       []func()
	running bool
}

// pending is the number of notifications waiting to run.
func (a *asyncQueue) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.q)
}

func (a *asyncQueue) push(s *Server, f func()) {
	a.mu.Lock()
	a.q = append(a.q, f)
	if a.running {
		a.mu.Unlock()
		return
	}
	a.running = true
	a.mu.Unlock()
	// One runner while there is work, counted by the server until it has
	// run the last notification queued.
	s.conns.Go(func() {
		for {
			a.mu.Lock()
			if len(a.q) == 0 {
				a.running = false
				a.mu.Unlock()
				return
			}
			f := a.q[0]
			a.q[0] = nil
			a.q = a.q[1:]
			a.mu.Unlock()
			f()
		}
	})
}
