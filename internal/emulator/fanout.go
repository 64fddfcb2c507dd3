package emulator

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"time"
)

// selector chooses the recipients of a fan-out.
type selector struct {
	all        bool
	group      string // when non-empty: the group's members
	user       string // when non-empty: the user's connections
	connection string // when non-empty: that connection
	excluded   map[string]struct{}
	filter     *filterExpr
	skip       *conn // noEcho sender
}

// each calls fn for every selected connection with h.mu held for reading.
func (h *hub) eachLocked(sel *selector, fn func(*conn)) {
	pick := func(c *conn) {
		if c == sel.skip {
			return
		}
		if _, ok := sel.excluded[c.id]; ok {
			return
		}
		if sel.filter != nil && !sel.filter.match(c) {
			return
		}
		fn(c)
	}
	switch {
	case sel.connection != "":
		if c := h.conns[sel.connection]; c != nil {
			pick(c)
		}
	case sel.group != "":
		for c := range h.groups[sel.group] {
			pick(c)
		}
	case sel.user != "":
		for c := range h.users[sel.user] {
			pick(c)
		}
	case sel.all:
		for _, c := range h.conns {
			pick(c)
		}
	}
}

// selected returns the connections sel chooses.
func (h *hub) selected(sel *selector) []*conn {
	var cs []*conn
	h.mu.RLock()
	h.eachLocked(sel, func(c *conn) { cs = append(cs, c) })
	h.mu.RUnlock()
	return cs
}

// broadcast enqueues d for every connection sel chooses and returns how
// many got it. The message is encoded once per protocol, not per
// connection; connections whose queue overflows are closed afterwards as
// slow clients, outside the lock. Then, outside the lock too, the caller's
// goroutine writes to every connection nobody else was writing to, with
// non-blocking system calls (see conn.flushInline): no wake-up of a
// goroutine per connection. When as many fan-outs are writing as
// fanoutWriters allows, the writes are left to those.
func (h *hub) broadcast(sel *selector, d *delivery) int {
	fl, slow, n := h.enqueueAll(sel, d)
	h.s.writers.write(fl)
	for _, c := range slow {
		c.closeSlow()
	}
	return n
}

// broadcastAsync is broadcast for a caller that goes on reading while the
// writes are made: an MQTT publisher's reader. Its next publishes then find
// most connections still claimed by this fan-out and only queue their
// frames, which leave with this fan-out's in one system call per
// connection: the group commit that concurrent REST calls get, for a single
// publisher. release is called once the writes are done (at once when
// other fan-outs already have every connection).
func (h *hub) broadcastAsync(sel *selector, d *delivery, release func()) int {
	fl, slow, n := h.enqueueAll(sel, d)
	fl.release = release
	h.s.writers.writeAsync(fl)
	for _, c := range slow {
		c.closeSlow()
	}
	return n
}

// enqueueAll enqueues d for sel's connections; it returns the connections
// the caller now writes, those too slow to keep, and how many got d.
func (h *hub) enqueueAll(sel *selector, d *delivery) (fl *flushList, slow []*conn, n int) {
	fl = flushListPool.Get().(*flushList)
	h.mu.RLock()
	h.eachLocked(sel, func(c *conn) {
		ok, claim := c.deliver(d)
		if claim {
			fl.conns = append(fl.conns, c)
		}
		if ok {
			n++
		} else {
			slow = append(slow, c)
		}
	})
	h.mu.RUnlock()
	// The same order every time: under load a connection is then written
	// about once per pass over the others, not anywhere between at once and
	// after two passes, as the maps' random order would have it.
	slices.SortFunc(fl.conns, func(a, b *conn) int { return cmp.Compare(a.ord, b.ord) })
	return fl, slow, n
}

// flushAll writes to fl's connections. A large fan-out is split over the
// processors: each write is a system call that mostly runs the loopback or
// network stack, so the spread between the first and the last connection's
// delivery shrinks with the processors working on it.
func flushAll(fl *flushList) {
	const minShare = 256
	if len(fl.conns) == 0 {
		return
	}
	s := fl.conns[0].s
	procs := min(runtime.GOMAXPROCS(0), len(fl.conns)/minShare)
	if procs <= 1 {
		for _, c := range fl.conns {
			c.flushInline(fl)
		}
		s.countWrites(fl.writes, fl.frames)
		fl.writes, fl.frames = 0, 0
		return
	}
	share := (len(fl.conns) + procs - 1) / procs
	var wg sync.WaitGroup
	for part := range slices.Chunk(fl.conns[share:], share) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			helper := flushListPool.Get().(*flushList)
			for _, c := range part {
				c.flushInline(helper)
			}
			s.countWrites(helper.writes, helper.frames)
			helper.writes, helper.frames = 0, 0
			putFlushList(helper)
		}()
	}
	for _, c := range fl.conns[:share] {
		c.flushInline(fl)
	}
	s.countWrites(fl.writes, fl.frames)
	fl.writes, fl.frames = 0, 0
	wg.Wait()
}

// fanoutWriters bounds the fan-outs writing at once. A fan-out that finds
// the bound reached queues its connections, which it has already claimed
// (see enqueueClaim), for the busy writers to write next; until then,
// further frames for those connections wait in their queues and leave with
// them in one system call. Below saturation every fan-out writes at once;
// above it, frames per write grow with the load (a group commit) instead
// of a backlog of one-frame writes: a small write costs the kernel several
// microseconds whatever it carries (docs/benchmarks.md).
type fanoutWriters struct {
	work    *activity // counts a backlog's goroutine (nil in unit tests: uncounted)
	mu      sync.Mutex
	running int
	queue   []*flushList
}

// maxFanoutWriters is the bound: half the processors, as the kernel's
// network path, on the sending and the receiving side, needs the rest.
// (A large fan-out still spreads its own writes over all of them, flushAll.)
func maxFanoutWriters() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// write writes fl's connections, and then the fan-outs queued meanwhile,
// or queues fl when the writers are all busy.
func (w *fanoutWriters) write(fl *flushList) {
	if w.claim(fl) {
		w.drain(fl)
	}
}

// writeAsync is write from a goroutine of its own, counted by the server,
// when a writer is free; the caller does not wait for the writes.
func (w *fanoutWriters) writeAsync(fl *flushList) {
	if w.claim(fl) {
		w.goDrain(fl)
	}
}

// claim makes the caller one of the running writers for fl and says so,
// or queues fl for the busy writers (or drops an empty fl) and says not.
func (w *fanoutWriters) claim(fl *flushList) bool {
	if len(fl.conns) == 0 {
		putFlushList(fl)
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running >= maxFanoutWriters() {
		w.queue = append(w.queue, fl)
		return false
	}
	w.running++
	return true
}

// drain writes fl (if any) and then the queued fan-outs until none is left;
// the caller is one of the running writers. A REST call that became the
// writer gets its answer after at most about drainBudget: a longer backlog
// is handed to a goroutine of its own.
func (w *fanoutWriters) drain(fl *flushList) {
	start := time.Now()
	for {
		if fl != nil {
			flushAll(fl)
			putFlushList(fl)
		}
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.running--
			w.queue = nil
			w.mu.Unlock()
			return
		}
		if fl != nil && time.Since(start) > drainBudget {
			w.mu.Unlock()
			w.goDrain(nil) // keeps this writer's place in running
			return
		}
		fl = w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.mu.Unlock()
	}
}

// goDrain hands fl (if any) and the queue to a goroutine of its own,
// counted by the server.
func (w *fanoutWriters) goDrain(fl *flushList) {
	if w.work == nil {
		go w.drain(fl)
		return
	}
	w.work.Go(func() { w.drain(fl) })
}

// drainBudget bounds how long one caller writes other fan-outs' frames (a
// variable for tests).
var drainBudget = 50 * time.Millisecond

func putFlushList(fl *flushList) {
	if fl.release != nil {
		fl.release()
		fl.release = nil
	}
	clear(fl.conns)
	fl.conns = fl.conns[:0]
	if cap(fl.buf) > 256<<10 {
		fl.buf = nil
	}
	flushListPool.Put(fl)
}

// flushList is a fan-out's connections to write and its buffers, reused,
// and what its writes wrote (added to the server's counters once per
// fan-out rather than per write: the counters are shared by every core).
type flushList struct {
	conns          []*conn
	buf, scratch   []byte
	writes, frames int64
	release        func() // see broadcastAsync
}

var flushListPool = sync.Pool{New: func() any { return new(flushList) }}
