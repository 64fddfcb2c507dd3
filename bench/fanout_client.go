package main

// The fan-out client process (this binary re-executed with
// WPSFN_FANOUT_CHILD set): the clients, read by epoll loops.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// ---- the client process ----

// The clients do the WebSocket handshake themselves (a real HTTP/1.1
// upgrade, Sec-WebSocket-Accept checked) and then parse RFC 6455 frames
// straight from the socket into one buffer per client: a read returns every
// frame that has arrived, and each data frame is counted only after its
// send time has been found in it. Counters and latencies are kept per read,
// not per frame, so the clients cost little more than the kernel's receive
// path and the emulator, not the load generator, sets the pace.

// fanoutStats is what every client adds to during a phase.
type fanoutStats struct {
	delivered atomic.Int64 // data frames received and verified
	bad       atomic.Int64 // data frames without a send time
	expect    atomic.Int64 // 0 between phases
	lastNs    atomic.Int64 // receipt time of the latest frame
	done      chan struct{}
}

// fanoutPoller reads its share of the client sockets from one goroutine:
// level-triggered epoll, one read per ready socket into a buffer shared by
// its sockets (each keeps only the tail of a frame that had not fully
// arrived), no goroutine per connection and no wake-up per frame.
type fanoutPoller struct {
	epfd int
	st   *fanoutStats
	reg  []atomic.Pointer[fanoutClient] // by client index (the epoll data)
	buf  []byte

	mu  sync.Mutex
	lat []int32 // µs, this phase
}

// fanoutClient is one receiving WebSocket: a descriptor of its own (a
// duplicate of the dialed socket's, which is closed so that Go's poller no
// longer watches it too), the poller's alone.
type fanoutClient struct {
	mu     sync.Mutex // held while the descriptor is read or closed
	fd     int
	closed bool
	rest   []byte // an incomplete frame's start
}

func newFanoutPoller(st *fanoutStats, n int) (*fanoutPoller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Room for a whole 1 MB message plus what precedes it in one read.
	return &fanoutPoller{epfd: epfd, st: st, reg: make([]atomic.Pointer[fanoutClient], n), buf: make([]byte, 2<<20+64<<10)}, nil
}

// add registers client i's socket. first is what arrived with the
// handshake response; it is parsed with the socket's next read (the servers
// here send nothing before the first broadcast).
func (p *fanoutPoller) add(i int, nc net.Conn, first []byte) error {
	defer nc.Close()
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return errors.New("not a TCP connection")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(sfd uintptr) { fd, derr = syscall.Dup(int(sfd)) }); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd), Pad: int32(i)}
	p.reg[i].Store(&fanoutClient{fd: fd, rest: first})
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.close(i)
		return err
	}
	return nil
}

// close closes client i's socket (the kernel drops it from the epoll set).
func (p *fanoutPoller) close(i int) {
	if fc := p.reg[i].Swap(nil); fc != nil {
		fc.mu.Lock()
		if !fc.closed {
			fc.closed = true
			syscall.Close(fc.fd)
		}
		fc.mu.Unlock()
	}
}

// run serves ready sockets until stop is closed.
func (p *fanoutPoller) run(stop <-chan struct{}) {
	events := make([]syscall.EpollEvent, 512)
	var lat []int32
	for {
		select {
		case <-stop:
			return
		default:
		}
		k, err := syscall.EpollWait(p.epfd, events, 100)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			fmt.Fprintf(os.Stderr, "fanout client: epoll_wait: %v\n", err)
			return
		}
		lat = lat[:0]
		var n, bad int
		var last int64
		for _, ev := range events[:max(k, 0)] {
			fc := p.reg[int(ev.Pad)].Load()
			if fc == nil {
				continue
			}
			fc.mu.Lock()
			if fc.closed {
				fc.mu.Unlock()
				continue
			}
			r := copy(p.buf, fc.rest)
			m, err := syscall.Read(fc.fd, p.buf[r:])
			if m <= 0 {
				fc.mu.Unlock()
				if err == syscall.EAGAIN || err == syscall.EINTR {
					continue
				}
				p.close(int(ev.Pad)) // EOF or error: stop watching it
				continue
			}
			now := time.Now().UnixNano()
			used, dn, dbad, ok := fc.frames(p.buf[:r+m], now, &lat)
			n, bad = n+dn, bad+dbad
			if dn > 0 {
				last = now
			}
			if ok {
				fc.rest = append(fc.rest[:0], p.buf[used:r+m]...)
				if cap(fc.rest) > 64<<10 && len(fc.rest) < 4<<10 {
					fc.rest = slices.Clip(slices.Clone(fc.rest))
				}
			}
			fc.mu.Unlock()
			if !ok {
				p.close(int(ev.Pad))
			}
		}
		if bad > 0 {
			p.st.bad.Add(int64(bad))
		}
		if n > 0 {
			p.mu.Lock()
			p.lat = append(p.lat, lat...)
			p.mu.Unlock()
			for {
				l := p.st.lastNs.Load()
				if last <= l || p.st.lastNs.CompareAndSwap(l, last) {
					break
				}
			}
			if d, e := p.st.delivered.Add(int64(n)), p.st.expect.Load(); e > 0 && d >= e {
				select {
				case p.st.done <- struct{}{}:
				default:
				}
			}
		}
		if cap(lat) > 1<<20 {
			lat = nil
		}
		if k > 0 && k < len(events)/2 && fanoutPollNap > 0 {
			// Few sockets were ready: let frames gather for a moment, so
			// that a read brings several and the emulator's writes seldom
			// have to wake this thread. It can only add to the latencies
			// measured, which are taken when a read returns.
			time.Sleep(fanoutPollNap)
		}
	}
}

// fanoutPollNap is the pollers' pause after a light epoll round
// (FANOUT_CLIENT_NAP_US, default 1000 µs).
var fanoutPollNap = time.Duration(envInt("FANOUT_CLIENT_NAP_US", 1000, 0, 100_000)) * time.Microsecond

// frames parses the complete frames at the start of b, received at now.
// Each data frame must carry {"t":<send time in ns>}: its latency goes to
// lat and it counts in n; one without counts in bad. used is how many bytes
// were whole frames; ok is false when the connection must end (a close
// frame, a protocol error).
func (fc *fanoutClient) frames(b []byte, now int64, lat *[]int32) (used, n, bad int, ok bool) {
	for {
		f := b[used:]
		if len(f) < 2 {
			return used, n, bad, true
		}
		if f[1]&0x80 != 0 {
			return used, n, bad, false // a masked server frame
		}
		hl, pl := 2, int(f[1]&0x7f)
		switch pl {
		case 126:
			if len(f) < 4 {
				return used, n, bad, true
			}
			hl, pl = 4, int(f[2])<<8|int(f[3])
		case 127:
			if len(f) < 10 {
				return used, n, bad, true
			}
			v := binary.BigEndian.Uint64(f[2:10])
			if v > 1<<20+64 {
				return used, n, bad, false // over the 1 MB message limit
			}
			hl, pl = 10, int(v)
		}
		if len(f) < hl+pl {
			return used, n, bad, true
		}
		p := f[hl : hl+pl]
		used += hl + pl
		switch f[0] & 0x0f {
		case 0x1, 0x2: // text, binary (the emulator sends every message whole)
			i := bytes.Index(p, []byte(`"t":`))
			if i < 0 {
				bad++
				continue
			}
			var sent int64
			digits := 0
			for _, ch := range p[i+4:] {
				if ch < '0' || ch > '9' {
					break
				}
				sent = sent*10 + int64(ch-'0')
				digits++
			}
			if digits == 0 {
				bad++
				continue
			}
			us := (now - sent) / 1000
			if us > 1<<31-1 {
				us = 1<<31 - 1
			}
			*lat = append(*lat, int32(us))
			n++
		case 0x9: // ping
			if _, err := syscall.Write(fc.fd, wsControl(0xA, p)); err != nil {
				return used, n, bad, false
			}
		case 0x8: // close: answer and end
			syscall.Write(fc.fd, wsControl(0x8, p[:min(2, len(p))]))
			return used, n, bad, false
		}
	}
}

func fanoutClientMain() int {
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int { out.Encode(childMsg{Op: "error", Err: err.Error()}); return 1 }
	n := envInt("FANOUT_CLIENTS", 10_000, 1, 100_000)
	groups := envInt("FANOUT_GROUPS", 10, 1, 1000)
	if lim := raiseNoFile(uint64(n) + 4096); lim < uint64(n)+256 {
		return fail(fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", lim, n))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Spread the source addresses over a few loopback addresses so the
	// ephemeral port range is never the limit.
	var laddrs []net.Addr
	for i := 1; i <= 4; i++ {
		laddrs = append(laddrs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))})
	}

	st := &fanoutStats{done: make(chan struct{}, 1)}
	// One poller per core; client i belongs to pollers[i%len(pollers)].
	pollers := make([]*fanoutPoller, max(1, runtime.GOMAXPROCS(0)))
	stop := make(chan struct{})
	defer close(stop)
	for i := range pollers {
		p, err := newFanoutPoller(st, n)
		if err != nil {
			return fail(err)
		}
		pollers[i] = p
		go p.run(stop)
	}
	closeAll := func() {
		for i := range n {
			pollers[i%len(pollers)].close(i)
		}
	}
	// connectAll (re)connects the n clients, url(i) giving each one's URL,
	// and reports the connect figures to the parent.
	connectAll := func(url func(i int) (string, error)) {
		closeAll()
		var failed atomic.Int64
		start := time.Now()
		sem := make(chan struct{}, 128)
		var wg sync.WaitGroup
		for i := range n {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				u, err := url(i)
				if err != nil {
					failed.Add(1)
					return
				}
				dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
				nc, first, err := wsDial(dctx, u, laddrs[i%len(laddrs)])
				dcancel()
				if err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "fanout client: first connect failure: %v\n", err)
					}
					return
				}
				if err := pollers[i%len(pollers)].add(i, nc, first); err != nil {
					nc.Close()
					if failed.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "fanout client: first connect failure: %v\n", err)
					}
				}
			}()
		}
		wg.Wait()
		secs := time.Since(start).Seconds()
		out.Encode(childMsg{Op: "connected", N: n - int(failed.Load()), Failed: int(failed.Load()), Seconds: secs})
	}
	if path := os.Getenv("FANOUT_CLIENT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var m childMsg
		if json.Unmarshal(in.Bytes(), &m) != nil {
			continue
		}
		switch m.Op {
		case "expect":
			for _, p := range pollers {
				p.mu.Lock()
				p.lat = p.lat[:0]
				p.mu.Unlock()
			}
			select {
			case <-st.done:
			default:
			}
			st.delivered.Store(0)
			st.bad.Store(0)
			st.lastNs.Store(0)
			st.expect.Store(int64(m.Expect))
			cpu0 := processCPU()
			out.Encode(childMsg{Op: "ready"})
			// Wait for every delivery, or give up 20 s after the last one.
			last := st.delivered.Load()
			idle := time.Now()
		wait:
			for {
				select {
				case <-st.done:
					break wait
				case <-time.After(200 * time.Millisecond):
					if d := st.delivered.Load(); d != last {
						last, idle = d, time.Now()
					} else if time.Since(idle) > 20*time.Second {
						break wait
					}
				}
			}
			st.expect.Store(0)
			var all []int32
			for _, p := range pollers {
				p.mu.Lock()
				all = append(all, p.lat...)
				p.mu.Unlock()
			}
			slices.Sort(all)
			r := childMsg{Op: "done", Delivered: len(all), Bad: int(st.bad.Load()), LastNs: st.lastNs.Load(), CPUNs: int64(processCPU() - cpu0)}
			if len(all) > 0 {
				r.P50us = int64(all[len(all)/2])
				r.P99us = int64(all[min(len(all)-1, len(all)*99/100)])
				r.MaxUs = int64(all[len(all)-1])
			}
			out.Encode(r)
		case "close":
			closeAll()
		case "connect":
			client, err := wps.NewClientFromConnectionString(m.ConnStr, fanoutHub, nil)
			if err != nil {
				return fail(err)
			}
			connectAll(func(i int) (string, error) {
				acc, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{
					UserID: "u" + strconv.Itoa(i), Groups: []string{"g" + strconv.Itoa(i%groups)},
				})
				return acc.URL, err
			})
		case "dial":
			connectAll(func(int) (string, error) { return m.URL, nil })
		case "exit":
			cancel()
			closeAll()
			return 0
		}
	}
	return 0
}
