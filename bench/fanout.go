package main

// The fan-out part: the emulator in this process on loopback, 10,000
// WebSocket clients in a child process (this binary re-executed), so the
// emulator's memory per idle connection is measured alone and neither side
// runs out of file descriptors. It measures:
//   - connect rate: connections/s, each through a blocking connect event
//     answered by a tiny local upstream (pkg/cloudevents' handler, signatures on);
//   - memory per idle connection: the emulator process's heap and RSS delta ÷ N;
//   - SendToAll and SendToGroup through the REST API (pkg/wps), each message
//     carrying its send time: deliveries/s, p50/p99 delivery latency and
//     frames per system call, flat out and paced at the goal's rate, half
//     of it and a tenth of it;
//   - the same clients against two baselines: a bare coder/websocket fan-out
//     and the floor, one write(2) per frame and nothing else.
// Anchor: Microsoft's published figures, 3,000 outbound messages/s per unit
// and 300,000/s at 100 units. Goal: ≥300,000 deliveries/s on 2 cores with
// p99 < 100 ms.
//
// The clients do a real HTTP/1.1 WebSocket upgrade and then parse RFC 6455
// frames themselves from two epoll loops (see fanoutPoller), so the load
// generator costs little beside the kernel's receive path; every data frame
// is counted only once its send time has been read from it, and the timing
// window runs from the first REST call until the last expected frame has
// arrived (or 20 s without progress, reporting the losses).
//
// Knobs (environment): FANOUT_CLIENTS (default 10000), FANOUT_GROUPS (10),
// FANOUT_CPUPROFILE (the emulator process's CPU profile over the phases
// whose names contain FANOUT_PROFILE_PHASE, default every emulator phase),
// FANOUT_CLIENT_CPUPROFILE (the client process's), FANOUT_CLIENT_NAP_US
// (the client pollers' pause after a light epoll round, default 1000).

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// cpuTime is the user+system CPU time of who (RUSAGE_SELF).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type fanoutPhase struct {
	base     broadcaster // a baseline server instead of the emulator's REST API
	name     string
	group    bool    // SendToGroup (rotating over the groups) instead of SendToAll
	messages int     // REST calls (broadcasts for a baseline)
	rate     float64 // calls/s; 0 = as fast as the in-flight bound allows
}

// broadcaster is a baseline server: it sends m to every client.
type broadcaster interface{ broadcast(m []byte) }

func runFanout(ctx context.Context) error {
	n := envInt("FANOUT_CLIENTS", 10_000, 1, 100_000)
	groups := envInt("FANOUT_GROUPS", 10, 1, 1000)
	// Room for the emulator's sockets and, briefly, a baseline server's.
	nofile := raiseNoFile(2*uint64(n) + 4096)
	if nofile < uint64(n)+256 {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", nofile, n)
	}

	// The tiny upstream: a real pkg/cloudevents handler that accepts every
	// connect (signatures checked).
	var connects atomic.Int64
	key := emulator.DefaultAccessKey
	up := &cloudevents.Handler{
		Hub: fanoutHub, Keys: cloudevents.NewKeys(key),
		Connect: func(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
			connects.Add(1)
			return nil, nil
		},
	}
	if err := up.Validate(); err != nil {
		return err
	}
	upURL, stopUp, err := serveLoopback(up)
	if err != nil {
		return err
	}
	defer stopUp()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	child := exec.CommandContext(cctx, self)
	child.Env = append(os.Environ(), fanoutChildEnv+"=1", "FANOUT_CLIENTS="+strconv.Itoa(n), "FANOUT_GROUPS="+strconv.Itoa(groups))
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
	fdCount := func() int { fds, _ := os.ReadDir("/proc/self/fd"); return len(fds) }
	// closeClients has the client process close its sockets and waits until
	// this process has closed its ends (file descriptors are scarce).
	closeClients := func() {
		send(childMsg{Op: "close"})
		for deadline := time.Now().Add(30 * time.Second); fdCount() > 1000 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		}
		if fds := fdCount(); fds > 1000 {
			runtime.GC() // coder/websocket's finalizer closes sockets nobody closed
			time.Sleep(500 * time.Millisecond)
			fmt.Printf("  note: %d file descriptors still open 30 s after the clients left (after a GC: %d; goroutines: %d)\n",
				fds, fdCount(), runtime.NumGoroutine())
		}
	}

	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before the run: %s (anything above ~0.5 means other processes share these cores)\n", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	fmt.Printf("clients: %d WebSocket connections (plain, no subprotocol; raw frame reader on epoll) from a child process, in %d groups; RLIMIT_NOFILE %d; GOMAXPROCS %d\n",
		n, groups, nofile, runtime.GOMAXPROCS(0))

	var (
		emu       *emulator.Server // the emulator of the current round
		client    *wps.Client
		connected int
		summary   []string
	)
	fmt.Printf("\n%-40s %7s %11s %13s %9s %9s %9s %6s %7s\n", "phase", "calls", "deliveries", "deliveries/s", "p50", "p99", "max", "goal", "anchor")
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
		var w0, f0 int64
		if ph.base == nil {
			w0, f0 = emu.WriteStats()
		}
		if path := os.Getenv("FANOUT_CPUPROFILE"); path != "" && ph.base == nil && strings.Contains(ph.name, os.Getenv("FANOUT_PROFILE_PHASE")) {
			if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); err == nil && pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
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
		// Flat out is judged on throughput, a paced phase on its p99 (its
		// rate is the pace).
		p99 := time.Duration(res.P99us) * time.Microsecond
		var verdict string
		switch {
		case res.Delivered < expect:
			verdict = "LOST deliveries"
		case ph.rate == 0 && rate >= fanoutGoal:
			verdict = "throughput meets goal"
		case ph.rate == 0:
			verdict = "throughput below goal"
		case p99 < fanoutGoalP99:
			verdict = "p99 meets goal"
		default:
			verdict = "p99 over goal"
		}
		if ph.base == nil && (ph.rate == 0 || strings.Contains(ph.name, "at goal")) {
			summary = append(summary, fmt.Sprintf("%s: %s (%.0f/s, p99 %s)", ph.name, verdict, rate, us(res.P99us)))
		}
		fmt.Printf("%-40s %7d %11d %13.0f %9s %9s %9s %5.2fx %6.0fx  %s\n", ph.name, ph.messages, res.Delivered, rate,
			us(res.P50us), us(res.P99us), us(res.MaxUs), rate/fanoutGoal, rate/fanoutAnchorUnit, verdict)
		fmt.Printf("%-40s cpu: server %.2f cores, clients %.2f cores, over %s", "",
			emuCPU.Seconds()/wall.Seconds(), float64(res.CPUNs)/1e9/wall.Seconds(), wall.Round(time.Millisecond))
		if ph.base == nil {
			if w1, f1 := emu.WriteStats(); w1 > w0 {
				fmt.Printf("; %.2f frames per write", float64(f1-f0)/float64(w1-w0))
			}
		}
		fmt.Println()
		if res.Bad > 0 {
			fmt.Printf("%-40s %d frames arrived without a send time (not counted)\n", "", res.Bad)
		}
		if res.Delivered < expect {
			fmt.Printf("%-40s only %d of %d deliveries arrived\n", "", res.Delivered, expect)
		}
		return rate, nil
	}

	// emulatorPhases runs every emulator phase: the clients connect to a new
	// emulator (connect rate, memory), then per kind flat out (capacity),
	// paced at the goal's rate, at half of that or of the capacity, and at a
	// tenth of the goal (latency when lightly loaded). Each paced phase
	// lasts about 2 s.
	emulatorPhases := func() (allCapacity float64, err error) {
		heap0, rss0 := heapBytes(), rssBytes()
		emu, err = emulator.New(emulator.Config{
			AccessKey: key,
			Hubs: map[string]emulator.HubSettings{fanoutHub: {EventHandlers: []emulator.EventHandler{{
				URLTemplate: upURL + "/{event}", SystemEvents: []string{"connect"},
			}}}},
			// Flat-out phases queue thousands of messages per client for a moment.
			OutboundQueue: 1 << 16,
		})
		if err != nil {
			return 0, err
		}
		emuURL, stopEmu, err := serveLoopback(emu.Handler())
		if err != nil {
			return 0, err
		}
		defer func() {
			closeClients()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			emu.Shutdown(sctx)
			stopEmu()
		}()
		connStr := emu.ConnectionString(emuURL)
		label := "emulator"
		connects.Store(0)
		send(childMsg{Op: "connect", ConnStr: connStr})
		m, err := recv(3 * time.Minute)
		if err != nil {
			return 0, err
		}
		if m.Failed > 0 {
			fmt.Printf("  warning: %d of %d connects failed\n", m.Failed, n)
		}
		connected = m.N
		fmt.Printf("%s: connect: %d connections in %.2f s = %.0f connections/s (each through a blocking connect event; upstream saw %d)\n",
			label, connected, m.Seconds, float64(connected)/m.Seconds, connects.Load())
		time.Sleep(500 * time.Millisecond)
		heap1, rss1 := heapBytes(), rssBytes()
		fmt.Printf("%s: memory per idle connection: heap %.1f KiB, RSS %.1f KiB\n", label,
			float64(int64(heap1)-int64(heap0))/float64(connected)/1024, float64(int64(rss1)-int64(rss0))/float64(connected)/1024)
		client, err = wps.NewClientFromConnectionString(connStr, fanoutHub, &wps.ClientOptions{
			HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		})
		if err != nil {
			return 0, err
		}
		perGroup := (connected + groups - 1) / groups
		for _, kind := range []struct {
			name  string
			group bool
			per   int // deliveries per call
			burst int
		}{{"SendToAll", false, connected, 60}, {"SendToGroup", true, perGroup, 600}} {
			name := kind.name
			capacity, err := run(fanoutPhase{name: name + ", flat out", group: kind.group, messages: kind.burst})
			if err != nil {
				return 0, err
			}
			if !kind.group {
				allCapacity = capacity
			}
			goalCalls := fanoutGoal / float64(kind.per)
			if _, err := run(fanoutPhase{name: name + ", paced at goal", group: kind.group,
				messages: max(1, int(2*goalCalls)), rate: goalCalls}); err != nil {
				return 0, err
			}
			for _, rate := range []float64{min(capacity, fanoutGoal) / 2, fanoutGoal / 10} {
				calls := rate / float64(kind.per)
				if _, err := run(fanoutPhase{name: fmt.Sprintf("%s, paced at %.0fk/s", name, rate/1000), group: kind.group,
					messages: max(1, int(2*calls)), rate: calls}); err != nil {
					return 0, err
				}
			}
		}
		return allCapacity, nil
	}

	allCapacity, err := emulatorPhases()
	if err != nil {
		return err
	}

	// The baselines, on the same clients. The bare coder/websocket server
	// only fans frames out (a writer goroutine per connection, one write per
	// frame, no protocol, no REST): what a straightforward Go server does.
	// The floor writes each frame with one write(2) straight on the socket
	// and does nothing else: what one system call per frame costs on this
	// machine, whoever makes it.
	bare := &bareHub{}
	var bareCapacity float64
	if err := baseline(bare, "bare coder/websocket", send, recv, &connected, func() error {
		bareCapacity, err = run(fanoutPhase{name: "bare coder/websocket, flat out", base: bare, messages: 60})
		return err
	}); err != nil {
		return err
	}
	closeClients()
	floor := &rawHub{}
	defer floor.close()
	if err := baseline(floor, "floor (one write(2) per frame)", send, recv, &connected, func() error {
		if _, err := run(fanoutPhase{name: "floor: one write(2) per frame, flat out", base: floor, messages: 60}); err != nil {
			return err
		}
		goalCalls := fanoutGoal / float64(connected)
		_, err := run(fanoutPhase{name: "floor: one write(2) per frame, at goal", base: floor,
			messages: max(1, int(2*goalCalls)), rate: goalCalls})
		return err
	}); err != nil {
		return err
	}
	fmt.Printf("\nSendToAll flat out: emulator = %.2fx the bare coder/websocket fan-out baseline in this run\n", allCapacity/bareCapacity)

	fmt.Printf("\nverdict against the goal (throughput flat out; p99 while paced at the goal's rate):\n")
	for _, l := range summary {
		fmt.Println("  " + l)
	}
	fmt.Printf("\ngoal: >= %.0f deliveries/s with p99 < %s on this machine; anchor: Microsoft's %.0f outbound msgs/s per unit (%.0f/s at 100 units = %.2fx of the goal)\n",
		fanoutGoal, fanoutGoalP99, fanoutAnchorUnit, fanoutAnchor100, fanoutAnchor100/fanoutGoal)
	fmt.Println("columns: goal = deliveries/s ÷ 300,000; anchor = deliveries/s ÷ 3,000 (one unit); latency = REST call start → client receipt.")
	fmt.Println("The clients run on the same 2 cores (their CPU is shown): the server alone has less than the whole machine.")
	fmt.Println("The floor rows show what one system call per frame allows here: at the goal's rate every client gets")
	fmt.Printf("%.0f messages/s, so more deliveries per second need several frames per write (the emulator batches under load).\n", fanoutGoal/float64(n))
	return nil
}

// baseline serves b on loopback, has the client process dial it, and runs
// phases against it.
func baseline(b http.Handler, name string, send func(childMsg), recv func(time.Duration) (childMsg, error), connected *int, phases func() error) error {
	base, stop, err := serveLoopback(b)
	if err != nil {
		return err
	}
	defer stop()
	send(childMsg{Op: "dial", URL: "ws" + strings.TrimPrefix(base, "http") + "/"})
	m, err := recv(3 * time.Minute)
	if err != nil {
		return err
	}
	if m.N != *connected {
		fmt.Printf("  (%s got %d clients of %d)\n", name, m.N, *connected)
	}
	*connected = m.N
	// A client's handshake may complete a moment before the server has
	// listed its connection.
	c, _ := b.(interface{ count() int })
	for deadline := time.Now().Add(5 * time.Second); c != nil && c.count() < *connected && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return phases()
}

// bareHub is the fan-out baseline: the least a Go server does to send a
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

func (b *bareHub) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
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

// rawHub is the floor baseline: it answers the WebSocket upgrade itself,
// keeps each socket's descriptor, and sends a frame to every client with
// one non-blocking write(2) per client, split over the processors. No
// queue, no goroutine per connection, no reading: the least any server can
// do per frame without putting several frames in one write.
type rawHub struct {
	mu    sync.Mutex
	files []*os.File // keeps the descriptors open
	fds   []int
}

func (b *rawHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	hj, ok := w.(http.Hijacker)
	if !ok || key == "" {
		http.Error(w, "not a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	nc, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	if _, err := io.WriteString(nc, resp); err != nil {
		return
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	f, err := tc.File() // a duplicate descriptor, ours alone once nc is closed
	if err != nil {
		return
	}
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		f.Close()
		return
	}
	b.mu.Lock()
	b.files = append(b.files, f)
	b.fds = append(b.fds, int(f.Fd()))
	b.mu.Unlock()
}

func (b *rawHub) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.fds)
}

func (b *rawHub) broadcast(m []byte) {
	frame := append([]byte{0x81, byte(len(m))}, m...) // a text frame; m < 126 bytes
	b.mu.Lock()
	fds := b.fds
	b.mu.Unlock()
	var wg sync.WaitGroup
	for part := range slices.Chunk(fds, (len(fds)+runtime.GOMAXPROCS(0)-1)/max(1, runtime.GOMAXPROCS(0))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, fd := range part {
				syscall.Write(fd, frame) // a full socket misses it (counted as lost)
			}
		}()
	}
	wg.Wait()
}

func (b *rawHub) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.files {
		f.Close()
	}
	b.files, b.fds = nil, nil
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
	start := time.Now()
	pace := func(i int) {
		if ph.rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / ph.rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
	}
	if ph.base != nil {
		// One broadcast at a time: a baseline that falls behind its pace
		// shows it in its latencies.
		for i := range ph.messages {
			pace(i)
			ph.base.broadcast([]byte(`{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`))
		}
		return nil
	}
	sem := make(chan struct{}, fanoutInFlight)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range ph.messages {
		pace(i)
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

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsDial opens a WebSocket to rawURL (ws://) with a plain HTTP/1.1 upgrade
// from a socket bound to laddr. It returns the connection and any bytes
// that arrived after the handshake response.
func wsDial(ctx context.Context, rawURL string, laddr net.Addr) (net.Conn, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("websocket dial: scheme %q, want ws", u.Scheme)
	}
	d := net.Dialer{LocalAddr: laddr}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	var k [16]byte
	crand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("websocket dial: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		nc.Close()
		return nil, nil, fmt.Errorf("websocket dial: handshake answered %s", resp.Status)
	}
	nc.SetDeadline(time.Time{})
	rest, _ := br.Peek(br.Buffered())
	return nc, slices.Clone(rest), nil
}

// wsControl is a masked control frame (clients mask, RFC 6455 §5.3).
func wsControl(op byte, payload []byte) []byte {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	f := make([]byte, 0, 6+len(payload))
	var m [4]byte
	crand.Read(m[:])
	f = append(f, 0x80|op, 0x80|byte(len(payload)), m[0], m[1], m[2], m[3])
	for i, b := range payload {
		f = append(f, b^m[i%4])
	}
	return f
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
			cpu0 := cpuTime(syscall.RUSAGE_SELF)
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
			r := childMsg{Op: "done", Delivered: len(all), Bad: int(st.bad.Load()), LastNs: st.lastNs.Load(), CPUNs: int64(cpuTime(syscall.RUSAGE_SELF) - cpu0)}
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
