package emulator

import (
	"sync"
	"time"
)

// Write coalescing (Config.CoalesceWindow). On this kind of machine a small
// write on a loopback or LAN TCP socket costs several microseconds of kernel
// time whatever it carries, so a server that writes one frame per system
// call tops out at one to two hundred thousand deliveries a second on two
// cores (docs/benchmarks.md measures the floor). A connection written to
// less than a window ago therefore holds its new frames until the window has
// passed, and they leave together in one system call. A connection that gets
// less than one message per window never waits: the first frame after a
// quiet spell is written at once. The held connections sit in a timing
// wheel that one goroutine sweeps; it exits when nothing is held.

// coalescer writes the connections that hold frames once their window has
// passed.
type coalescer struct {
	s      *Server
	window int64 // nanoseconds on Server.mono
	tick   int64 // the wheel's granularity

	mu      sync.Mutex
	slots   [][]*conn // slot t%len holds the connections due at tick t
	next    int64     // the first tick not swept yet
	held    int       // connections in the wheel
	running bool      // the sweeping goroutine is running
}

// coalesceTicks is how many wheel slots a window spans: a held frame waits
// at most window + window/coalesceTicks.
const coalesceTicks = 8

func newCoalescer(s *Server, window time.Duration) *coalescer {
	tick := max(int64(window)/coalesceTicks, int64(100*time.Microsecond))
	return &coalescer{
		s:      s,
		window: int64(window),
		tick:   tick,
		slots:  make([][]*conn, int64(window)/tick+2),
	}
}

// hold reports whether c, written to at lastWrite, must hold its new frames;
// if so it puts c in the wheel for when the window ends. The caller holds
// c.omu and marks c held; a held connection is not held again before the
// sweep has taken it.
func (co *coalescer) hold(c *conn, now, lastWrite int64) bool {
	if lastWrite == 0 || now-lastWrite >= co.window {
		return false
	}
	due := (lastWrite + co.window + co.tick - 1) / co.tick // the first tick at or after the window's end
	co.mu.Lock()
	if !co.running {
		co.running = true
		co.next = now / co.tick
		go co.run()
	}
	due = max(due, co.next)
	// A sweep that fell behind by more than the wheel may meet c a little
	// early: that only costs some batching.
	i := due % int64(len(co.slots))
	co.slots[i] = append(co.slots[i], c)
	co.held++
	co.mu.Unlock()
	return true
}

// run sweeps the wheel every tick and writes the connections that are due,
// until nothing has been held for a whole window or the server shuts down.
func (co *coalescer) run() {
	t := time.NewTicker(time.Duration(co.tick))
	defer t.Stop()
	fl := flushListPool.Get().(*flushList)
	defer flushListPool.Put(fl)
	var due []*conn
	idle := 0
	for {
		select {
		case <-t.C:
		case <-co.s.shutdown:
			// Closing connections write what they hold (conn.close).
			co.mu.Lock()
			co.running = false
			co.mu.Unlock()
			return
		}
		now := co.s.mono()
		co.mu.Lock()
		for ; co.next <= now/co.tick; co.next++ {
			slot := &co.slots[co.next%int64(len(co.slots))]
			due = append(due, *slot...)
			clear(*slot)
			*slot = (*slot)[:0]
		}
		co.held -= len(due)
		if co.held == 0 && len(due) == 0 {
			if idle++; idle > coalesceTicks+2 {
				co.running = false
				co.mu.Unlock()
				return
			}
		} else {
			idle = 0
		}
		co.mu.Unlock()
		for _, c := range due {
			if c.release() {
				fl.conns = append(fl.conns, c)
			}
		}
		clear(due)
		due = due[:0]
		flushAll(fl)
		clear(fl.conns)
		fl.conns = fl.conns[:0]
	}
}

// release ends c's hold; with true the caller now owns c's writes and must
// call flushInline.
func (c *conn) release() (claim bool) {
	c.omu.Lock()
	c.held = false
	sk := c.sock
	switch {
	case sk == nil || c.ended || c.writer != writerNone || len(c.pending) == 0:
		sk = nil // nothing to write, or its writer takes it
	case sk.cork != nil && sk.cork.raw != nil:
		c.writer = writerInline
		c.omu.Unlock()
		return true
	}
	c.omu.Unlock()
	if sk != nil {
		sk.signal()
	}
	return false
}
