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
// frames themselves from two epoll loops (see poller), so the load
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
//
// Files: fanout.go runs the phases; fanout_client.go is the client process
// (on clientproc.go's epoll readers); fanout_ws.go its WebSocket handshake
// and control frames;
// fanout_baselines.go the two baseline servers; fanout_report.go the table
// and the verdicts.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

	cp, err := startClientProcess(ctx, fanoutChildEnv+"=1", "FANOUT_CLIENTS="+strconv.Itoa(n), "FANOUT_GROUPS="+strconv.Itoa(groups))
	if err != nil {
		return err
	}
	defer cp.stop()
	send, recv := cp.send, cp.recv
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
	printPhaseHeader()
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
		cpu0 := processCPU()
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
		emuCPU := processCPU() - cpu0
		if sendErr != nil {
			fmt.Printf("  %s: REST error: %v\n", ph.name, sendErr)
		}
		elapsed := time.Duration(res.LastNs - start.UnixNano())
		rate := float64(res.Delivered) / elapsed.Seconds()
		framesPerWrite := 0.0
		if ph.base == nil {
			if w1, f1 := emu.WriteStats(); w1 > w0 {
				framesPerWrite = float64(f1-f0) / float64(w1-w0)
			}
		}
		verdict := printPhase(ph, res, expect, rate, wall, emuCPU, framesPerWrite)
		if ph.base == nil && (ph.rate == 0 || strings.Contains(ph.name, "at goal")) {
			summary = append(summary, fmt.Sprintf("%s: %s (%.0f/s, p99 %s)", ph.name, verdict, rate, micros(res.P99us)))
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
	printFanoutSummary(allCapacity, bareCapacity, summary, n)
	return nil
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
