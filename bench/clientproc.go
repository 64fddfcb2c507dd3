package main

// The client process that the fan-out parts share (fanout: WebSocket
// clients; mqtt: MQTT subscribers): this binary re-executed with a part's
// child variable set, its sockets read by epoll loops, driven by the parent
// over stdin/stdout one JSON line at a time. The servers measured keep the
// parent process to themselves (its memory per connection is theirs alone),
// and neither side runs out of file descriptors.
//
// Counters and latencies are kept per read, not per frame, so the clients
// cost little more than the kernel's receive path and the server, not the
// load generator, sets the pace. What a socket's bytes mean is a
// clientProto's: fanout_client.go parses JSON WebSocket frames,
// mqtt_client.go MQTT PUBLISH packets.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// childMsg is one line between the parent and the client process.
type childMsg struct {
	Op        string  `json:"op"`
	N         int     `json:"n,omitempty"`
	Failed    int     `json:"failed,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"`
	Expect    int     `json:"expect,omitempty"`
	Delivered int     `json:"delivered,omitempty"`
	Bad       int     `json:"bad,omitempty"` // data frames without a send time
	LastNs    int64   `json:"lastNs,omitempty"`
	P50us     int64   `json:"p50us,omitempty"`
	P99us     int64   `json:"p99us,omitempty"`
	MaxUs     int64   `json:"maxUs,omitempty"`
	CPUNs     int64   `json:"cpuNs,omitempty"`   // client process CPU time during the phase
	URL       string  `json:"url,omitempty"`     // "dial": connect every client here, no token
	ConnStr   string  `json:"connStr,omitempty"` // "connect": connect every client through this service
	Err       string  `json:"err,omitempty"`
}

// ---- the parent's side ----

// clientProcess is the running client process, seen from the parent.
type clientProcess struct {
	ctx    context.Context
	cmd    *exec.Cmd
	cancel context.CancelFunc
	in     interface{ Write([]byte) (int, error) }
	lines  *bufio.Scanner
}

// startClientProcess re-executes this binary with env added (a part's child
// variable and its settings).
func startClientProcess(ctx context.Context, env ...string) (*clientProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(cctx, self)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start client process: %w", err)
	}
	return &clientProcess{ctx: ctx, cmd: cmd, cancel: cancel, in: in, lines: bufio.NewScanner(out)}, nil
}

// send writes one message to the client process.
func (p *clientProcess) send(m childMsg) {
	b, _ := json.Marshal(m)
	p.in.Write(append(b, '\n'))
}

// recv reads the client process's next message; an "error" message from it
// is returned as an error.
func (p *clientProcess) recv(timeout time.Duration) (childMsg, error) {
	got := make(chan childMsg, 1)
	errc := make(chan error, 1)
	go func() {
		if !p.lines.Scan() {
			errc <- fmt.Errorf("client process ended: %v", p.lines.Err())
			return
		}
		var m childMsg
		if err := json.Unmarshal(p.lines.Bytes(), &m); err != nil {
			errc <- fmt.Errorf("client process said %q", p.lines.Text())
			return
		}
		got <- m
	}()
	select {
	case m := <-got:
		if m.Err != "" {
			return m, errors.New("client process: " + m.Err)
		}
		return m, nil
	case err := <-errc:
		return childMsg{}, err
	case <-time.After(timeout):
		return childMsg{}, fmt.Errorf("client process silent for %s", timeout)
	case <-p.ctx.Done():
		return childMsg{}, p.ctx.Err()
	}
}

// stop asks the client process to exit and waits for it.
func (p *clientProcess) stop() {
	p.send(childMsg{Op: "exit"})
	p.cmd.Wait()
	p.cancel()
}

// ---- the client process ----

// clientStats is what every client adds to during a phase.
type clientStats struct {
	delivered atomic.Int64 // data frames received and verified
	bad       atomic.Int64 // data frames without a send time
	expect    atomic.Int64 // 0 between phases
	lastNs    atomic.Int64 // receipt time of the latest frame
	done      chan struct{}
}

// clientProto reads one client's protocol from what its socket received.
type clientProto interface {
	// frames parses the complete frames at the start of b, received at now
	// on descriptor fd (which it may write answers to: pongs,
	// acknowledgements). Each data frame's latency goes to lat and it
	// counts in n; one without a send time counts in bad. used is how many
	// bytes were whole frames; ok is false when the connection must end.
	frames(fd int, b []byte, now int64, lat *[]int32) (used, n, bad int, ok bool)
}

// keepAliver is a clientProto whose server drops clients that stay silent
// (MQTT's keep-alive): the pool writes keepAlive to its socket every
// clientKeepAlive.
type keepAliver interface{ keepAlive() []byte }

const clientKeepAlive = 30 * time.Second

// poller reads its share of the client sockets from one goroutine:
// level-triggered epoll, one read per ready socket into a buffer shared by
// its sockets (each keeps only the tail of a frame that had not fully
// arrived), no goroutine per connection and no wake-up per frame.
type poller struct {
	epfd int
	st   *clientStats
	reg  []atomic.Pointer[pollClient] // by client index (the epoll data)
	buf  []byte

	mu  sync.Mutex
	lat []int32 // µs, this phase
}

// pollClient is one client socket: a descriptor of its own (a duplicate of
// the dialed socket's, which is closed so that Go's poller no longer watches
// it too), the poller's alone.
type pollClient struct {
	mu     sync.Mutex // held while the descriptor is read, written or closed
	fd     int
	closed bool
	rest   []byte // an incomplete frame's start
	proto  clientProto
}

func newPoller(st *clientStats, n int) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Room for a whole 1 MB message plus what precedes it in one read.
	return &poller{epfd: epfd, st: st, reg: make([]atomic.Pointer[pollClient], n), buf: make([]byte, 2<<20+64<<10)}, nil
}

// add registers client i's socket, read by proto. first is what arrived
// with the handshake; it is parsed with the socket's next read (the servers
// here send nothing before the first broadcast).
func (p *poller) add(i int, nc net.Conn, first []byte, proto clientProto) error {
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
	p.reg[i].Store(&pollClient{fd: fd, rest: first, proto: proto})
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.close(i)
		return err
	}
	return nil
}

// close closes client i's socket (the kernel drops it from the epoll set).
func (p *poller) close(i int) {
	if fc := p.reg[i].Swap(nil); fc != nil {
		fc.mu.Lock()
		if !fc.closed {
			fc.closed = true
			syscall.Close(fc.fd)
		}
		fc.mu.Unlock()
	}
}

// write writes b to client i's socket (a keep-alive), if it is open.
func (p *poller) write(i int, b []byte) {
	if fc := p.reg[i].Load(); fc != nil {
		fc.mu.Lock()
		if !fc.closed {
			syscall.Write(fc.fd, b)
		}
		fc.mu.Unlock()
	}
}

// run serves ready sockets until stop is closed.
func (p *poller) run(stop <-chan struct{}) {
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
			fmt.Fprintf(os.Stderr, "bench client: epoll_wait: %v\n", err)
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
			used, dn, dbad, ok := fc.proto.frames(fc.fd, p.buf[:r+m], now, &lat)
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
		if k > 0 && k < len(events)/2 && clientPollNap > 0 {
			// Few sockets were ready: let frames gather for a moment, so
			// that a read brings several and the server's writes seldom
			// have to wake this thread. It can only add to the latencies
			// measured, which are taken when a read returns.
			time.Sleep(clientPollNap)
		}
	}
}

// clientPollNap is the pollers' pause after a light epoll round
// (FANOUT_CLIENT_NAP_US, default 1000 µs; the MQTT part's clients too).
var clientPollNap = time.Duration(envInt("FANOUT_CLIENT_NAP_US", 1000, 0, 100_000)) * time.Microsecond

// clientDial connects client i and returns its socket, the bytes that
// arrived after its handshake and the protocol that reads it.
type clientDial func(ctx context.Context, i int, laddr net.Addr) (nc net.Conn, first []byte, proto clientProto, err error)

// clientPool is the client process's clients, spread over one poller per core.
type clientPool struct {
	n       int
	st      *clientStats
	pollers []*poller
	out     *json.Encoder
}

// runClientProcess is a client process's main loop for n clients: the
// parent's "expect", "close" and "exit" are served here; any other
// operation is given to connect, which returns how to dial each client for
// it (and true), or false to ignore the message. It returns the exit code.
func runClientProcess(n int, connect func(ctx context.Context, m childMsg) (clientDial, bool, error)) int {
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int { out.Encode(childMsg{Op: "error", Err: err.Error()}); return 1 }
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

	cp := &clientPool{n: n, st: &clientStats{done: make(chan struct{}, 1)}, out: out}
	st := cp.st
	// One poller per core; client i belongs to pollers[i%len(pollers)].
	cp.pollers = make([]*poller, max(1, runtime.GOMAXPROCS(0)))
	stop := make(chan struct{})
	defer close(stop)
	for i := range cp.pollers {
		p, err := newPoller(st, n)
		if err != nil {
			return fail(err)
		}
		cp.pollers[i] = p
		go p.run(stop)
	}
	closeAll := func() {
		for i := range n {
			cp.pollers[i%len(cp.pollers)].close(i)
		}
	}
	go cp.keepAlive(stop)
	// connectAll (re)connects the n clients with dial and reports the
	// connect figures to the parent.
	connectAll := func(dial clientDial) {
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
				dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
				nc, first, proto, err := dial(dctx, i, laddrs[i%len(laddrs)])
				dcancel()
				if err == nil {
					if err = cp.pollers[i%len(cp.pollers)].add(i, nc, first, proto); err != nil {
						nc.Close()
					}
				}
				if err != nil && failed.Add(1) == 1 {
					fmt.Fprintf(os.Stderr, "bench client: first connect failure: %v\n", err)
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
			cp.expect(m.Expect)
		case "close":
			closeAll()
		case "exit":
			cancel()
			closeAll()
			return 0
		default:
			dial, ok, err := connect(ctx, m)
			if err != nil {
				return fail(err)
			}
			if ok {
				connectAll(dial)
			}
		}
	}
	return 0
}

// keepAlive writes each keepAliver client's keep-alive every
// clientKeepAlive until stop is closed.
func (cp *clientPool) keepAlive(stop <-chan struct{}) {
	t := time.NewTicker(clientKeepAlive)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for i := range cp.n {
			p := cp.pollers[i%len(cp.pollers)]
			if fc := p.reg[i].Load(); fc != nil {
				if ka, ok := fc.proto.(keepAliver); ok {
					p.write(i, ka.keepAlive())
				}
			}
		}
	}
}

// expect runs one phase: it answers "ready", waits for want deliveries (or
// gives up 20 s after the last one) and answers "done" with the figures.
func (cp *clientPool) expect(want int) {
	st := cp.st
	for _, p := range cp.pollers {
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
	st.expect.Store(int64(want))
	cpu0 := processCPU()
	cp.out.Encode(childMsg{Op: "ready"})
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
	for _, p := range cp.pollers {
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
	cp.out.Encode(r)
}
