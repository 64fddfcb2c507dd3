package main

// The fan-out part: the emulator in this process on loopback, 10,000
// WebSocket clients in a child process (this binary re-executed), so the
// emulator's memory per idle connection is measured alone and neither side
// runs out of file descriptors. It measures:
//   - connect rate: connections/s, each through a blocking connect event
//     answered by a tiny local upstream (pkg/cloudevents' handler, signatures on);
//   - memory per idle connection: the emulator process's heap and RSS delta ÷ N;
//   - SendToAll and SendToGroup through the REST API (pkg/wps), each message
//     carrying its send time: deliveries/s and p50/p99 delivery latency, both
//     flat out and paced at the goal's rate.
// Anchor: Microsoft's published figures, 3,000 outbound messages/s per unit
// and 300,000/s at 100 units. Goal: ≥300,000 deliveries/s on 2 cores with
// p99 < 100 ms.
//
// Knobs (environment): FANOUT_CLIENTS (default 10000), FANOUT_GROUPS (10).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

const (
	fanoutChildEnv   = "WPSFN_FANOUT_CHILD"
	fanoutHub        = "fanout"
	fanoutGoal       = 300_000.0 // deliveries/s
	fanoutGoalP99    = 100 * time.Millisecond
	fanoutAnchorUnit = 3_000.0   // outbound messages/s per unit (Microsoft)
	fanoutAnchor100  = 300_000.0 // at 100 units
	// fanoutInFlight bounds concurrent REST calls, as a pool of application
	// instances would: enough that the emulator, not the caller, sets the pace.
	fanoutInFlight = 32
)

func init() {
	if os.Getenv(fanoutChildEnv) != "" {
		// This process is the client side of a fan-out run.
		os.Exit(fanoutClientMain())
	}
	register("fanout", runFanout)
}

func envInt(name string, def, lo, hi int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= lo && v <= hi {
		return v
	}
	return def
}

// raiseNoFile lifts RLIMIT_NOFILE towards want (the hard limit too, when the
// process may) and reports the soft limit in effect.
func raiseNoFile(want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Max < want {
		try := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) == nil {
			return want
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// rssBytes reads the process's resident set size from /proc (0 elsewhere).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func heapBytes() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// childMsg is one line between the parent and the client process.
type childMsg struct {
	Op        string  `json:"op"`
	N         int     `json:"n,omitempty"`
	Failed    int     `json:"failed,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"`
	Expect    int     `json:"expect,omitempty"`
	Delivered int     `json:"delivered,omitempty"`
	LastNs    int64   `json:"lastNs,omitempty"`
	P50us     int64   `json:"p50us,omitempty"`
	P99us     int64   `json:"p99us,omitempty"`
	MaxUs     int64   `json:"maxUs,omitempty"`
	CPUNs     int64   `json:"cpuNs,omitempty"` // client process CPU time during the phase
	URL       string  `json:"url,omitempty"`   // "dial": connect every client here instead
	Err       string  `json:"err,omitempty"`
}

// cpuTime is the user+system CPU time of who (RUSAGE_SELF).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type fanoutPhase struct {
	bare     *bareHub // the ceiling server instead of the REST API
	name     string
	group    bool    // SendToGroup (rotating over the groups) instead of SendToAll
	messages int     // REST calls
	rate     float64 // calls/s; 0 = as fast as the in-flight bound allows
}

func runFanout(ctx context.Context) error {
	n := envInt("FANOUT_CLIENTS", 10_000, 1, 100_000)
	groups := envInt("FANOUT_GROUPS", 10, 1, 1000)
	// Room for the emulator's sockets and, briefly, the ceiling server's.
	nofile := raiseNoFile(2*uint64(n) + 4096)
	if nofile < uint64(n)+256 {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", nofile, n)
	}

	// The tiny upstream: a real pkg/cloudevents handler that accepts every
	// connect (signatures checked).
	var connects atomic.Int64
	key := emulator.DefaultAccessKey
	up, err := cloudevents.NewHandler(cloudevents.Options{
		Hub: fanoutHub, AccessKeys: []string{key},
		Connect: func(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
			connects.Add(1)
			return nil, nil
		},
	})
	if err != nil {
		return err
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upSrv := &http.Server{Handler: up}
	go upSrv.Serve(upLn)
	defer upSrv.Close()

	emu, err := emulator.New(emulator.Config{
		AccessKey: key,
		Hubs: map[string]emulator.HubSettings{fanoutHub: {EventHandlers: []emulator.EventHandler{{
			URLTemplate: "http://" + upLn.Addr().String() + "/{event}", SystemEvents: []string{"connect"},
		}}}},
		// Flat-out phases queue thousands of messages per client for a moment.
		OutboundQueue: 1 << 16,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		emu.Shutdown(sctx)
		srv.Close()
	}()
	endpoint := "http://" + ln.Addr().String()
	connStr := emu.ConnectionString(endpoint)

	heap0, rss0 := heapBytes(), rssBytes()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	child := exec.CommandContext(cctx, self)
	child.Env = append(os.Environ(), fanoutChildEnv+"=1",
		"FANOUT_CONNSTR="+connStr, "FANOUT_CLIENTS="+strconv.Itoa(n), "FANOUT_GROUPS="+strconv.Itoa(groups))
	child.Stderr = os.Stderr
	toChild, _ := child.StdinPipe()
	fromChild, _ := child.StdoutPipe()
	child.WaitDelay = 10 * time.Second
	if err := child.Start(); err != nil {
		return fmt.Errorf("start client process: %w", err)
	}
	defer child.Wait()
	lines := bufio.NewScanner(fromChild)
	recv := func(timeout time.Duration) (childMsg, error) {
		got := make(chan childMsg, 1)
		errc := make(chan error, 1)
		go func() {
			if !lines.Scan() {
				errc <- fmt.Errorf("client process ended: %v", lines.Err())
				return
			}
			var m childMsg
			if err := json.Unmarshal(lines.Bytes(), &m); err != nil {
				errc <- fmt.Errorf("client process said %q", lines.Text())
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
		case <-ctx.Done():
			return childMsg{}, ctx.Err()
		}
	}
	send := func(m childMsg) { b, _ := json.Marshal(m); toChild.Write(append(b, '\n')) }
	defer send(childMsg{Op: "exit"})

	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before the run: %s (anything above ~0.5 means other processes share these cores)\n", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	fmt.Printf("clients: %d WebSocket connections (plain, no subprotocol) from a child process, in %d groups; RLIMIT_NOFILE %d; GOMAXPROCS %d\n",
		n, groups, nofile, runtime.GOMAXPROCS(0))
	m, err := recv(3 * time.Minute)
	if err != nil {
		return err
	}
	if m.Failed > 0 {
		fmt.Printf("  warning: %d of %d connects failed\n", m.Failed, n)
	}
	connected := m.N
	fmt.Printf("connect: %d connections in %.2f s = %.0f connections/s (each through a blocking connect event; upstream saw %d)\n",
		connected, m.Seconds, float64(connected)/m.Seconds, connects.Load())

	time.Sleep(500 * time.Millisecond)
	heap1, rss1 := heapBytes(), rssBytes()
	fmt.Printf("memory per idle connection (emulator process): heap %.1f KiB, RSS %.1f KiB\n",
		float64(int64(heap1)-int64(heap0))/float64(connected)/1024, float64(int64(rss1)-int64(rss0))/float64(connected)/1024)

	client, err := wps.NewClientFromConnectionString(connStr, fanoutHub, &wps.ClientOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	})
	if err != nil {
		return err
	}
	perGroup := (connected + groups - 1) / groups
	if path := os.Getenv("FANOUT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	fmt.Printf("\n%-30s %7s %11s %13s %9s %9s %9s %6s %7s\n", "phase", "calls", "deliveries", "deliveries/s", "p50", "p99", "max", "goal", "anchor")
	run := func(ph fanoutPhase) (float64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		expect := ph.messages * connected
		if ph.group {
			expect = 0
			for i := range ph.messages {
				expect += groupSize(i%groups, connected, groups)
			}
		}
		send(childMsg{Op: "expect", Expect: expect})
		if _, err := recv(30 * time.Second); err != nil {
			return 0, err
		}
		start := time.Now()
		cpu0 := cpuTime(syscall.RUSAGE_SELF)
		sendErr := fanoutSend(ctx, client, ph, groups)
		res, err := recv(60 * time.Second)
		if err != nil {
			return 0, err
		}
		wall := time.Since(start)
		emuCPU := cpuTime(syscall.RUSAGE_SELF) - cpu0
		if sendErr != nil {
			fmt.Printf("  %s: REST error: %v\n", ph.name, sendErr)
		}
		elapsed := time.Duration(res.LastNs - start.UnixNano())
		rate := float64(res.Delivered) / elapsed.Seconds()
		us := func(v int64) string {
			return (time.Duration(v) * time.Microsecond).Round(10 * time.Microsecond).String()
		}
		verdict := "meets goal"
		if rate < fanoutGoal || time.Duration(res.P99us)*time.Microsecond >= fanoutGoalP99 {
			verdict = "below goal"
		}
		fmt.Printf("%-30s %7d %11d %13.0f %9s %9s %9s %5.2fx %6.0fx  %s\n", ph.name, ph.messages, res.Delivered, rate,
			us(res.P50us), us(res.P99us), us(res.MaxUs), rate/fanoutGoal, rate/fanoutAnchorUnit, verdict)
		fmt.Printf("%-30s cpu: emulator process %.2f cores, client process %.2f cores, over %s\n", "",
			emuCPU.Seconds()/wall.Seconds(), float64(res.CPUNs)/1e9/wall.Seconds(), wall.Round(time.Millisecond))
		if res.Delivered < expect {
			fmt.Printf("%-30s only %d of %d deliveries arrived\n", "", res.Delivered, expect)
		}
		return rate, nil
	}
	var allCapacity float64
	// Per kind: flat out (capacity), paced at the goal's rate, and paced at
	// half the measured capacity (latency when not saturated). Each paced
	// phase lasts about 2 s.
	for _, kind := range []struct {
		name  string
		group bool
		per   int // deliveries per call
		burst int
	}{{"SendToAll", false, connected, 60}, {"SendToGroup", true, perGroup, 600}} {
		capacity, err := run(fanoutPhase{name: kind.name + ", flat out", group: kind.group, messages: kind.burst})
		if err != nil {
			return err
		}
		if !kind.group {
			allCapacity = capacity
		}
		goalCalls := fanoutGoal / float64(kind.per)
		if _, err := run(fanoutPhase{name: kind.name + ", paced at goal", group: kind.group,
			messages: max(1, int(2*goalCalls)), rate: goalCalls}); err != nil {
			return err
		}
		halfCalls := capacity / 2 / float64(kind.per)
		if _, err := run(fanoutPhase{name: fmt.Sprintf("%s, paced at %.0fk/s", kind.name, capacity/2/1000), group: kind.group,
			messages: max(1, int(2*halfCalls)), rate: halfCalls}); err != nil {
			return err
		}
	}

	// The ceiling: the same clients on a bare coder/websocket server that
	// only fans frames out (a writer goroutine per connection, no protocol,
	// no REST): how much of the machine's fan-out the emulator achieves.
	bare := &bareHub{}
	bareLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bareSrv := &http.Server{Handler: bare}
	go bareSrv.Serve(bareLn)
	defer bareSrv.Close()
	// The emulator's sockets must be gone first (file descriptors).
	send(childMsg{Op: "close"})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		open := 0
		for _, h := range emu.Snapshot().Hubs {
			open += len(h.Connections)
		}
		if open == 0 {
			break
		}
	}
	// The emulator should also have closed their sockets by now.
	fdCount := func() int { fds, _ := os.ReadDir("/proc/self/fd"); return len(fds) }
	if fds := fdCount(); fds > 1000 {
		time.Sleep(2 * time.Second)
		later := fdCount()
		runtime.GC() // coder/websocket's finalizer closes sockets nobody closed
		time.Sleep(500 * time.Millisecond)
		fmt.Printf("  note: %d file descriptors open in the emulator process after its %d clients left (2 s later: %d; after a GC: %d; goroutines: %d)\n",
			fds, connected, later, fdCount(), runtime.NumGoroutine())
	}
	send(childMsg{Op: "dial", URL: "ws://" + bareLn.Addr().String() + "/"})
	bm, err := recv(3 * time.Minute)
	if err != nil {
		return err
	}
	if bm.N != connected {
		fmt.Printf("  (the bare server got %d clients of %d)\n", bm.N, connected)
	}
	connected = bm.N
	ceiling, err := run(fanoutPhase{name: "bare coder/websocket, flat out", bare: bare, messages: 60})
	if err != nil {
		return err
	}
	fmt.Printf("\nemulator SendToAll flat out = %.2fx the bare coder/websocket fan-out ceiling in this run\n", allCapacity/ceiling)

	fmt.Printf("\ngoal: >= %.0f deliveries/s with p99 < %s on this machine; anchor: Microsoft's %.0f outbound msgs/s per unit (%.0f/s at 100 units = %.2fx of the goal)\n",
		fanoutGoal, fanoutGoalP99, fanoutAnchorUnit, fanoutAnchor100, fanoutAnchor100/fanoutGoal)
	fmt.Println("columns: goal = deliveries/s ÷ 300,000; anchor = deliveries/s ÷ 3,000 (one unit); latency = REST call start → client receipt.")
	fmt.Println("The clients run on the same 2 cores (their CPU is shown): the emulator alone has less than the whole machine.")
	return nil
}

// bareHub is the fan-out ceiling: the least a Go server does to send a
// frame to every connection with coder/websocket.
type bareHub struct {
	mu    sync.Mutex
	conns []chan []byte
}

func (b *bareHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ctx := c.CloseRead(context.Background())
	ch := make(chan []byte, 1<<12)
	b.mu.Lock()
	b.conns = append(b.conns, ch)
	b.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ch:
			if c.Write(ctx, websocket.MessageText, m) != nil {
				return
			}
		}
	}
}

func (b *bareHub) broadcast(m []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.conns {
		select {
		case ch <- m:
		default: // a slow client misses it (counted as not delivered)
		}
	}
}

// groupSize is how many of n clients are in group g (client i joins group i%groups).
func groupSize(g, n, groups int) int {
	s := n / groups
	if g < n%groups {
		s++
	}
	return s
}

// fanoutSend makes the phase's REST calls, at most fanoutInFlight at once, paced when
// the phase has a rate. Each message carries its send time in ns.
func fanoutSend(ctx context.Context, client *wps.Client, ph fanoutPhase, groups int) error {
	if ph.bare != nil {
		for range ph.messages {
			ph.bare.broadcast([]byte(`{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`))
		}
		return nil
	}
	sem := make(chan struct{}, fanoutInFlight)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for i := range ph.messages {
		if ph.rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / ph.rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			msg := wps.Text(`{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`)
			var err error
			if ph.group {
				err = client.SendToGroup(ctx, "g"+strconv.Itoa(i%groups), msg, nil)
			} else {
				err = client.SendToAll(ctx, msg, nil)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

// ---- the client process ----

// fanoutClient is one receiving WebSocket and its latencies for the phase.
type fanoutClient struct {
	mu  sync.Mutex
	lat []int32 // µs
}

func fanoutClientMain() int {
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int { out.Encode(childMsg{Op: "error", Err: err.Error()}); return 1 }
	n := envInt("FANOUT_CLIENTS", 10_000, 1, 100_000)
	groups := envInt("FANOUT_GROUPS", 10, 1, 1000)
	if lim := raiseNoFile(uint64(n) + 4096); lim < uint64(n)+256 {
		return fail(fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", lim, n))
	}
	client, err := wps.NewClientFromConnectionString(os.Getenv("FANOUT_CONNSTR"), fanoutHub, nil)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Spread the source addresses over a few loopback addresses so the
	// ephemeral port range is never the limit.
	var transports []*http.Client
	for i := 1; i <= 4; i++ {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i))}, Timeout: 30 * time.Second}
		transports = append(transports, &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: -1}})
	}

	var delivered, expect atomic.Int64
	var lastNs atomic.Int64
	phaseDone := make(chan struct{}, 1)
	clients := make([]*fanoutClient, n)
	conns := make([]*websocket.Conn, n)
	// connectAll (re)connects the n clients, url(i) giving each one's URL,
	// and reports the connect figures to the parent.
	connectAll := func(url func(i int) (string, error)) {
		for i, c := range conns {
			if c != nil {
				c.CloseNow()
				conns[i], clients[i] = nil, nil
			}
		}
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
				c, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: transports[i%len(transports)]})
				dcancel()
				if err != nil {
					if failed.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "fanout client: first connect failure: %v\n", err)
					}
					return
				}
				c.SetReadLimit(1 << 20)
				conns[i] = c
				fc := &fanoutClient{}
				clients[i] = fc
				go fc.read(ctx, c, &delivered, &expect, &lastNs, phaseDone)
			}()
		}
		wg.Wait()
		secs := time.Since(start).Seconds()
		out.Encode(childMsg{Op: "connected", N: n - int(failed.Load()), Failed: int(failed.Load()), Seconds: secs})
	}
	connectAll(func(i int) (string, error) {
		acc, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{
			UserID: "u" + strconv.Itoa(i), Groups: []string{"g" + strconv.Itoa(i%groups)},
		})
		return acc.URL, err
	})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var m childMsg
		if json.Unmarshal(in.Bytes(), &m) != nil {
			continue
		}
		switch m.Op {
		case "expect":
			for _, fc := range clients {
				if fc != nil {
					fc.mu.Lock()
					fc.lat = fc.lat[:0]
					fc.mu.Unlock()
				}
			}
			select {
			case <-phaseDone:
			default:
			}
			delivered.Store(0)
			lastNs.Store(0)
			expect.Store(int64(m.Expect))
			cpu0 := cpuTime(syscall.RUSAGE_SELF)
			out.Encode(childMsg{Op: "ready"})
			// Wait for every delivery, or give up 20 s after the last one.
			last := delivered.Load()
			idle := time.Now()
		wait:
			for {
				select {
				case <-phaseDone:
					break wait
				case <-time.After(200 * time.Millisecond):
					if d := delivered.Load(); d != last {
						last, idle = d, time.Now()
					} else if time.Since(idle) > 20*time.Second {
						break wait
					}
				}
			}
			expect.Store(0)
			var all []int32
			for _, fc := range clients {
				if fc != nil {
					fc.mu.Lock()
					all = append(all, fc.lat...)
					fc.mu.Unlock()
				}
			}
			slices.Sort(all)
			r := childMsg{Op: "done", Delivered: len(all), LastNs: lastNs.Load(), CPUNs: int64(cpuTime(syscall.RUSAGE_SELF) - cpu0)}
			if len(all) > 0 {
				r.P50us = int64(all[len(all)/2])
				r.P99us = int64(all[min(len(all)-1, len(all)*99/100)])
				r.MaxUs = int64(all[len(all)-1])
			}
			out.Encode(r)
		case "close":
			for i, c := range conns {
				if c != nil {
					c.CloseNow()
					conns[i], clients[i] = nil, nil
				}
			}
		case "dial":
			connectAll(func(int) (string, error) { return m.URL, nil })
		case "exit":
			cancel()
			for _, c := range conns {
				if c != nil {
					c.CloseNow()
				}
			}
			return 0
		}
	}
	return 0
}

// read receives frames until the connection ends, recording each message's
// latency from the send time it carries.
func (fc *fanoutClient) read(ctx context.Context, c *websocket.Conn, delivered, expect, lastNs *atomic.Int64, done chan<- struct{}) {
	buf := make([]byte, 0, 256)
	for {
		_, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, cap(buf))
			}
			k, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		now := time.Now().UnixNano()
		i := bytes.Index(buf, []byte(`"t":`))
		if i < 0 {
			continue
		}
		var sent int64
		for _, ch := range buf[i+4:] {
			if ch < '0' || ch > '9' {
				break
			}
			sent = sent*10 + int64(ch-'0')
		}
		lat := (now - sent) / 1000
		if lat > 1<<31-1 {
			lat = 1<<31 - 1
		}
		fc.mu.Lock()
		fc.lat = append(fc.lat, int32(lat))
		fc.mu.Unlock()
		for {
			l := lastNs.Load()
			if now <= l || lastNs.CompareAndSwap(l, now) {
				break
			}
		}
		if d := delivered.Add(1); d == expect.Load() {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}
}
