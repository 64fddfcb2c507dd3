package main

// The MQTT part: 10,000 MQTT 5 subscribers on one topic (at QoS 0; another
// topic at QoS 1), fed by REST sendToGroup and by an MQTT publisher, flat
// out (capacity) and paced at the goal's rate (latency). The anchor is
// Debian's mosquitto, measured in the same run with the same clients.
// Debian's mosquitto 2.0 is built without libwebsockets, so it is measured
// over TCP and the emulator over WebSocket (the only transport of the
// service's MQTT endpoint): the ratio favours mosquitto by the WebSocket
// framing, and the output says so.
//
// The subscribers run in a child process (clientproc.go, mqtt_client.go):
// paho.golang's packets codec for CONNECT and SUBSCRIBE, then epoll readers
// that parse PUBLISH packets from the socket and send PUBACKs, the same
// code for both servers. The publisher is a paho.golang client in this
// process; each message's first 8 payload bytes are its send time.
//
// Settings (environment): MQTT_SUBSCRIBERS (default 10000), MQTT_MESSAGES
// (flat-out messages per phase, default 100), MQTT_MOSQUITTO (default
// /usr/sbin/mosquitto; "none" skips the anchor), FANOUT_CPUPROFILE with
// FANOUT_PROFILE_PHASE (this process's CPU profile over the emulator phases
// whose names contain it). Memory per idle connection: the server
// process's growth per connected subscriber (the emulator's heap and RSS,
// mosquitto's RSS), clients excluded.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"

	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

const (
	mqttHub  = "mqtt"
	mqttGoal = 300_000.0 // deliveries/s
	// mqttInFlight bounds the publisher's concurrent QoS 1 publishes and
	// REST calls: enough that the server, not the caller, sets the pace.
	mqttInFlight = 16
	// mqttPacedFor is how long a paced phase lasts.
	mqttPacedFor = 2 * time.Second
)

func init() {
	if os.Getenv(mqttChildEnv) != "" {
		os.Exit(mqttClientMain()) // this process is the MQTT part's subscribers
	}
	register("mqtt", runMQTT)
}

// lockedConn lets paho.golang lock the connection around a packet's
// several writes (it does for a sync.Locker), as its own WebSocket wrapper does.
type lockedConn struct {
	net.Conn
	sync.Mutex
}

type dialer func(ctx context.Context) (net.Conn, error)

// mqttPublisher connects the paho.golang publisher.
func mqttPublisher(ctx context.Context, dial dialer) (*paho.Client, error) {
	nc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Connect(cctx, &paho.Connect{ClientID: "publisher", KeepAlive: 120, CleanStart: true}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect the publisher: %w", err)
	}
	return c, nil
}

// mqttTarget is one server measured.
type mqttTarget struct {
	name    string
	subURL  string      // where the subscribers connect (ws:// or tcp://)
	pubDial dialer      // the publisher's connection
	rest    *wps.Client // nil: no REST API
	emu     *emulator.Server
	pid     int // mosquitto's process, for its RSS
}

// mqttPhase is one measured phase of a target.
type mqttPhase struct {
	qos   byte
	rest  bool    // REST sendToGroup instead of the MQTT publisher
	rate  float64 // messages/s; 0 = flat out
	count int
}

func (ph mqttPhase) name() string {
	via := "MQTT publisher"
	if ph.rest {
		via = "REST sendToGroup"
	}
	pace := "flat out"
	if ph.rate > 0 {
		pace = "paced at goal"
	}
	return fmt.Sprintf("QoS %d, %s, %s", ph.qos, via, pace)
}

// mqttResult is a phase's figures.
type mqttResult struct {
	delivered, expect int
	rate              float64
	p50, p99          time.Duration
}

func (r mqttResult) complete() bool { return r.expect > 0 && r.delivered >= r.expect }

func runMQTT(ctx context.Context) error {
	n := envInt("MQTT_SUBSCRIBERS", 10_000, 1, 100_000)
	msgs := envInt("MQTT_MESSAGES", 100, 1, 1_000_000)
	if lim := raiseNoFile(uint64(n) + 4096); lim < uint64(n)+256 {
		return fmt.Errorf("RLIMIT_NOFILE is %d, too low for %d connections", lim, n)
	}
	cp, err := startClientProcess(ctx, mqttChildEnv+"=1", "MQTT_SUBSCRIBERS="+strconv.Itoa(n))
	if err != nil {
		return err
	}
	defer cp.stop()
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before the run: %s (anything above ~0.5 means other processes share these cores)\n", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	goalRate := mqttGoal / float64(n)
	fmt.Printf("%d MQTT 5 subscribers on one topic per QoS, from a child process (paho.golang's packets codec to connect and subscribe, then raw epoll readers, the same for every server); GOMAXPROCS %d\n", n, runtime.GOMAXPROCS(0))
	fmt.Printf("publisher: paho.golang; 64-byte payloads; flat out: %d messages (at most %d QoS 1 publishes or REST calls in flight); paced: %.1f messages/s (%.0f deliveries/s) for %s\n",
		msgs, mqttInFlight, goalRate, mqttGoal, mqttPacedFor)

	results := map[string]mqttResult{}
	var names []string
	run := func(tg *mqttTarget) error {
		fmt.Printf("\n-- %s\n", tg.name)
		heap0, rss0 := serverMemory(tg)
		cp.send(childMsg{Op: "dial", URL: tg.subURL})
		m, err := cp.recv(5 * time.Minute)
		if err != nil {
			return err
		}
		defer cp.send(childMsg{Op: "close"})
		if m.Failed > 0 {
			fmt.Printf("  warning: %d of %d subscribers failed to connect\n", m.Failed, n)
		}
		connected := m.N
		if connected == 0 {
			return errors.New("no subscriber connected")
		}
		fmt.Printf("connect + subscribe: %d subscribers in %.2f s = %.0f/s\n", connected, m.Seconds, float64(connected)/m.Seconds)
		time.Sleep(500 * time.Millisecond)
		heap1, rss1 := serverMemory(tg)
		if tg.emu != nil {
			fmt.Printf("memory per idle MQTT connection (emulator process): heap %.1f KiB, RSS %.1f KiB\n",
				float64(int64(heap1)-int64(heap0))/float64(connected)/1024, float64(int64(rss1)-int64(rss0))/float64(connected)/1024)
		} else {
			fmt.Printf("memory per idle MQTT connection (mosquitto process): RSS %.1f KiB\n", float64(int64(rss1)-int64(rss0))/float64(connected)/1024)
		}
		pub, err := mqttPublisher(ctx, tg.pubDial)
		if err != nil {
			return err
		}
		defer pub.Disconnect(&paho.Disconnect{})
		fmt.Printf("%-40s %11s %13s %9s %9s\n", "phase", "deliveries", "deliveries/s", "p50", "p99")
		for _, qos := range []byte{0, 1} {
			for _, rest := range []bool{false, true} {
				if rest && tg.rest == nil {
					continue
				}
				for _, rate := range []float64{0, goalRate} {
					ph := mqttPhase{qos: qos, rest: rest, rate: rate, count: msgs}
					if rate > 0 {
						ph.count = max(1, int(rate*mqttPacedFor.Seconds()))
					}
					r, err := mqttRun(ctx, cp, tg, pub, ph, connected)
					if err != nil {
						return err
					}
					key := tg.name + "|" + ph.name()
					results[key] = r
					lost := ""
					if !r.complete() {
						lost = "  LOST deliveries"
					}
					fmt.Printf("%-40s %5d/%-5d %13.0f %9s %9s%s\n", ph.name(), r.delivered/connected, r.expect/connected, r.rate,
						r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), lost)
				}
			}
		}
		return nil
	}

	// The emulator, over WebSocket.
	s, err := emulator.New(emulator.Config{Hubs: map[string]emulator.HubSettings{mqttHub: {AllowAnonymous: true}},
		// Flat-out phases queue every message for every subscriber for a moment.
		OutboundQueue: 1 << 16})
	if err != nil {
		return err
	}
	base, stopEmu, err := serveLoopback(s.Handler())
	if err != nil {
		return err
	}
	tok, err := mqttToken(s, base)
	if err != nil {
		return err
	}
	wsURL := "ws" + base[len("http"):] + "/clients/mqtt/hubs/" + mqttHub + "?access_token=" + tok
	rest, err := wps.NewClientFromConnectionString(s.ConnectionString(base), mqttHub, &wps.ClientOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: mqttInFlight}},
	})
	if err != nil {
		return err
	}
	emuName := "emulator (MQTT over WebSocket)"
	names = append(names, emuName)
	err = run(&mqttTarget{name: emuName, subURL: wsURL, rest: rest, emu: s, pubDial: func(ctx context.Context) (net.Conn, error) {
		ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(-1)
		return &lockedConn{Conn: websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}, nil
	}})
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.Shutdown(sctx)
	cancel()
	stopEmu()
	if err != nil {
		return err
	}

	// mosquitto, over TCP.
	mosq := "not measured"
	bin := os.Getenv("MQTT_MOSQUITTO")
	if bin == "" {
		bin = "/usr/sbin/mosquitto"
	}
	if bin == "none" {
		mosq += " (MQTT_MOSQUITTO=none)"
	} else if addr, pid, stopM, err := startMosquitto(ctx, bin); err != nil {
		mosq += fmt.Sprintf(" (%v)", err)
	} else {
		name := "mosquitto (MQTT over TCP: Debian's build has no WebSocket listener)"
		names = append(names, name)
		err := run(&mqttTarget{name: name, subURL: "tcp://" + addr, pid: pid, pubDial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}})
		stopM()
		if err != nil {
			return err
		}
		mosq = ""
	}
	if mosq != "" {
		fmt.Printf("\nmosquitto: %s\n", mosq)
	}
	fmt.Println()
	for _, line := range mqttSummary(results, names) {
		fmt.Println(line)
	}
	return nil
}

// mqttRun runs one phase against tg with connected subscribers.
func mqttRun(ctx context.Context, cp *clientProcess, tg *mqttTarget, pub *paho.Client, ph mqttPhase, connected int) (mqttResult, error) {
	if err := ctx.Err(); err != nil {
		return mqttResult{}, err
	}
	expect := ph.count * connected
	cp.send(childMsg{Op: "expect", Expect: expect})
	if _, err := cp.recv(30 * time.Second); err != nil {
		return mqttResult{}, err
	}
	if path := os.Getenv("FANOUT_CPUPROFILE"); path != "" && tg.emu != nil && strings.Contains(tg.name+" "+ph.name(), os.Getenv("FANOUT_PROFILE_PHASE")) {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	topic := mqttTopicQoS0
	if ph.qos == 1 {
		topic = mqttTopicQoS1
	}
	start := time.Now()
	sendErr := mqttSend(ctx, tg, pub, ph, topic, start)
	res, err := cp.recv(60 * time.Second)
	if err != nil {
		return mqttResult{}, err
	}
	if sendErr != nil {
		fmt.Printf("  %s: publish error: %v\n", ph.name(), sendErr)
	}
	r := mqttResult{delivered: res.Delivered, expect: expect,
		p50: time.Duration(res.P50us) * time.Microsecond, p99: time.Duration(res.P99us) * time.Microsecond}
	if el := time.Duration(res.LastNs - start.UnixNano()); el > 0 {
		r.rate = float64(res.Delivered) / el.Seconds()
	}
	if res.Bad > 0 {
		fmt.Printf("  %s: %d PUBLISH packets without a send time\n", ph.name(), res.Bad)
	}
	return r, nil
}

// mqttSend publishes the phase's messages, paced when it has a rate: QoS 0
// publishes one after the other (each a write), QoS 1 publishes and REST
// calls at most mqttInFlight at once.
func mqttSend(ctx context.Context, tg *mqttTarget, pub *paho.Client, ph mqttPhase, topic string, start time.Time) error {
	sem := make(chan struct{}, mqttInFlight)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range ph.count {
		if ph.rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / ph.rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		p := make([]byte, 64)
		binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
		send := func() error {
			if ph.rest {
				return tg.rest.SendToGroup(ctx, topic, wps.Binary(p), nil)
			}
			_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: ph.qos, Payload: p})
			return err
		}
		if ph.qos == 0 && !ph.rest {
			if err := send(); err != nil {
				return err
			}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := send(); err != nil {
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

// serverMemory is the measured server's memory: the emulator's heap and
// RSS (this process), or mosquitto's RSS.
func serverMemory(tg *mqttTarget) (heap, rss uint64) {
	if tg.emu != nil {
		return heapBytes(), rssBytes()
	}
	return 0, pidRSS(tg.pid)
}

// pidRSS reads a process's resident set size from /proc (0 elsewhere).
func pidRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
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

// mqttSummary judges the goals: at QoS 0 through the MQTT publisher, at
// least mosquitto's deliveries/s (flat out) with no worse p99 (paced at the
// goal's rate), and ≥ 300,000 deliveries/s. names[0] is the emulator,
// names[1] mosquitto when it was measured. A goal whose figures are missing
// or incomplete is never met.
func mqttSummary(results map[string]mqttResult, names []string) []string {
	get := func(target int, ph mqttPhase) (mqttResult, bool) {
		if target >= len(names) {
			return mqttResult{}, false
		}
		r, ok := results[names[target]+"|"+ph.name()]
		return r, ok
	}
	flat := mqttPhase{qos: 0}
	paced := mqttPhase{qos: 0, rate: 1}
	var out []string
	for _, rest := range []bool{false, true} {
		ph := flat
		ph.rest = rest
		e, ok := get(0, ph)
		out = append(out, fmt.Sprintf("goal ≥ %.0f deliveries/s (%s): %s", mqttGoal, ph.name(), verdictAgainst(ok, e, func() (float64, bool) {
			return e.rate / mqttGoal, e.rate >= mqttGoal
		}, fmt.Sprintf("%.0f/s", e.rate))))
	}
	e, okE := get(0, flat)
	m, okM := get(1, flat)
	out = append(out, "vs mosquitto over TCP ("+flat.name()+"), deliveries/s: "+verdictAgainst(okE && okM && m.complete() && m.rate > 0, e, func() (float64, bool) {
		return e.rate / m.rate, e.rate >= m.rate
	}, fmt.Sprintf("%.0f/s vs %.0f/s", e.rate, m.rate)))
	e, okE = get(0, paced)
	m, okM = get(1, paced)
	out = append(out, "vs mosquitto over TCP ("+paced.name()+"), p99: "+verdictAgainst(okE && okM && m.complete() && m.p99 > 0, e, func() (float64, bool) {
		return float64(e.p99) / float64(m.p99), e.p99 <= m.p99
	}, fmt.Sprintf("%s vs %s", e.p99.Round(10*time.Microsecond), m.p99.Round(10*time.Microsecond))))
	q1 := mqttPhase{qos: 1}
	e, okE = get(0, q1)
	m, okM = get(1, q1)
	if okE && okM && m.rate > 0 {
		out = append(out, fmt.Sprintf("for information, %s: %.2f× mosquitto's deliveries/s (%.0f/s vs %.0f/s)", q1.name(), e.rate/m.rate, e.rate, m.rate))
	}
	out = append(out, "(the emulator is measured over WebSocket, mosquitto over TCP: the ratios favour mosquitto by the WebSocket framing)")
	return out
}

// verdictAgainst words one goal: "not measured" without its figures,
// "not met: deliveries lost" when the emulator's phase was incomplete,
// else the ratio and met or MISSED.
func verdictAgainst(measured bool, emu mqttResult, ratio func() (float64, bool), figures string) string {
	switch {
	case !measured:
		return "not measured"
	case !emu.complete():
		return fmt.Sprintf("not met: deliveries lost (%d of %d)", emu.delivered, emu.expect)
	}
	r, met := ratio()
	v := "MISSED"
	if met {
		v = "met"
	}
	return fmt.Sprintf("%.2f× (%s): %s", r, figures, v)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// mqttToken mints an MQTT client token for the bench hub through the
// emulator's :generateToken.
func mqttToken(s *emulator.Server, base string) (string, error) {
	c, err := wps.NewClientFromConnectionString(s.ConnectionString(base), mqttHub, nil)
	if err != nil {
		return "", err
	}
	ca, err := c.ClientAccessURL(context.Background(), &wps.ClientAccessOptions{Protocol: wps.ProtocolMQTT,
		Roles: []string{wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny}})
	if err != nil {
		return "", err
	}
	return ca.Token, nil
}

// startMosquitto runs the broker on a free loopback port with a config of
// its own, and returns its address and how to stop it.
func startMosquitto(ctx context.Context, bin string) (string, int, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	dir, err := os.MkdirTemp("", "wpsfn-mosquitto")
	if err != nil {
		return "", 0, nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	body := "listener " + port + " 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 0\npersistence false\nlog_dest none\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", 0, nil, err
	}
	addr := "127.0.0.1:" + port
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid, stop, nil
		}
		if i > 50 {
			stop()
			return "", 0, nil, errors.New("mosquitto did not listen within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
