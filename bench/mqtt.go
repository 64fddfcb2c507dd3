package main

// The MQTT part: MQTT subscribers on one topic of the emulator, fed by REST
// sendToGroup and by an MQTT publisher, at QoS 0 and 1; the anchor is
// Debian's mosquitto with the same client library (paho.golang, MQTT 5) in
// the same run. Debian's mosquitto 2.0 is built without libwebsockets, so
// it is measured over TCP, the emulator over WebSocket: the printed ratio
// favours mosquitto by the WebSocket framing.
//
// Settings (environment): MQTT_SUBSCRIBERS (default 10000), MQTT_MESSAGES
// per phase (default 100), MQTT_RATE messages/s (default 50),
// MQTT_MOSQUITTO (default /usr/sbin/mosquitto; "" skips the anchor).
// Memory per idle connection is the emulator process's heap growth per
// connected subscriber, clients included (they run in the same process),
// so it overstates the server's share.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"

	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

const (
	mqttHub   = "mqtt"
	mqttTopic = "bench"
	mqttGoal  = 300_000.0 // deliveries/s
)

func init() { register("mqtt", runMQTT) }

// mqttStats collects deliveries and their latencies.
type mqttStats struct {
	delivered atomic.Int64
	mu        sync.Mutex
	lat       []int32 // µs, bounded
	last      atomic.Int64
}

func (st *mqttStats) got(p []byte) {
	if len(p) < 8 {
		return
	}
	now := time.Now().UnixNano()
	st.delivered.Add(1)
	st.last.Store(now)
	us := int32((now - int64(binary.BigEndian.Uint64(p))) / 1e3)
	st.mu.Lock()
	if len(st.lat) < 4_000_000 {
		st.lat = append(st.lat, us)
	}
	st.mu.Unlock()
}

func (st *mqttStats) reset() {
	st.delivered.Store(0)
	st.mu.Lock()
	st.lat = st.lat[:0]
	st.mu.Unlock()
}

func (st *mqttStats) percentiles() (p50, p99 time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.lat) == 0 {
		return 0, 0
	}
	slices.Sort(st.lat)
	at := func(q float64) time.Duration {
		return time.Duration(st.lat[int(q*float64(len(st.lat)-1))]) * time.Microsecond
	}
	return at(0.5), at(0.99)
}

// lockedConn lets paho.golang lock the connection around a packet's
// several writes (it does for a sync.Locker), as its own WebSocket wrapper does.
type lockedConn struct {
	net.Conn
	sync.Mutex
}

type dialer func(ctx context.Context) (net.Conn, error)

// mqttClient connects one paho.golang client.
func mqttClient(ctx context.Context, dial dialer, id string, st *mqttStats) (*paho.Client, error) {
	nc, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{Conn: nc}
	if st != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			st.got(pr.Packet.Payload)
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Connect(cctx, &paho.Connect{ClientID: id, KeepAlive: 120, CleanStart: true}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	return c, nil
}

type mqttTarget struct {
	name string
	dial dialer
	rest *wps.Client // nil: no REST API
}

func runMQTT(ctx context.Context) error {
	n := envInt("MQTT_SUBSCRIBERS", 10_000, 1, 100_000)
	msgs := envInt("MQTT_MESSAGES", 100, 1, 1_000_000)
	rate := envInt("MQTT_RATE", 50, 1, 100_000)
	raiseNoFile(uint64(4*n + 1024))
	fmt.Printf("%d subscribers on one topic, %d messages per phase at %d/s, 64-byte payloads; client: paho.golang (MQTT 5)\n", n, msgs, rate)

	s, err := emulator.New(emulator.Config{Hubs: map[string]emulator.HubSettings{mqttHub: {AllowAnonymous: true}}})
	if err != nil {
		return err
	}
	base, stop, err := serveLoopback(s.Handler())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.Shutdown(sctx)
		cancel()
		stop()
	}()
	tok, err := mqttToken(s, base)
	if err != nil {
		return err
	}
	wsURL := "ws" + base[len("http"):] + "/clients/mqtt/hubs/" + mqttHub + "?access_token=" + tok
	rest, err := wps.NewClientFromConnectionString(s.ConnectionString(base), mqttHub, nil)
	if err != nil {
		return err
	}
	targets := []mqttTarget{{name: "emulator (WebSocket)", rest: rest, dial: func(ctx context.Context) (net.Conn, error) {
		ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(-1)
		return &lockedConn{Conn: websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}, nil
	}}}
	if bin := os.Getenv("MQTT_MOSQUITTO"); bin != "" || os.Getenv("MQTT_MOSQUITTO") == "" && fileExists("/usr/sbin/mosquitto") {
		if bin == "" {
			bin = "/usr/sbin/mosquitto"
		}
		addr, stopM, err := startMosquitto(ctx, bin)
		if err != nil {
			fmt.Printf("mosquitto: not measured: %v\n", err)
		} else {
			defer stopM()
			targets = append(targets, mqttTarget{name: "mosquitto 2.0 (TCP: Debian's build has no WebSocket listener)", dial: func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			}})
		}
	}

	type result struct {
		rate     float64
		p50, p99 time.Duration
	}
	results := map[string]result{}
	for _, tg := range targets {
		fmt.Printf("-- %s\n", tg.name)
		st := &mqttStats{}
		runtime.GC()
		heap0 := heapBytes()
		subs := make([]*paho.Client, 0, n)
		closeAll := func() {
			for _, c := range subs {
				c.Disconnect(&paho.Disconnect{})
			}
		}
		for i := range n {
			c, err := mqttClient(ctx, tg.dial, "sub"+strconv.Itoa(i), st)
			if err != nil {
				closeAll()
				return err
			}
			subs = append(subs, c)
		}
		runtime.GC()
		fmt.Printf("memory per idle MQTT connection (clients included): %.1f KiB\n", float64(heapBytes()-heap0)/float64(n)/1024)
		pub, err := mqttClient(ctx, tg.dial, "publisher", nil)
		if err != nil {
			closeAll()
			return err
		}
		for _, qos := range []byte{0, 1} {
			var wg sync.WaitGroup
			for _, c := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: mqttTopic, QoS: qos}}})
				}()
			}
			wg.Wait()
			for _, via := range []string{"REST sendToGroup", "MQTT publisher"} {
				if via == "REST sendToGroup" && tg.rest == nil {
					continue
				}
				st.reset()
				start := time.Now()
				tick := time.NewTicker(time.Second / time.Duration(rate))
				for range msgs {
					<-tick.C
					p := make([]byte, 64)
					binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
					if via == "MQTT publisher" {
						if _, err := pub.Publish(ctx, &paho.Publish{Topic: mqttTopic, QoS: qos, Payload: p}); err != nil {
							tick.Stop()
							closeAll()
							return fmt.Errorf("publish: %w", err)
						}
					} else if err := tg.rest.SendToGroup(ctx, mqttTopic, wps.Binary(p), nil); err != nil {
						tick.Stop()
						closeAll()
						return fmt.Errorf("REST send: %w", err)
					}
				}
				tick.Stop()
				want := int64(msgs * n)
				deadline := time.Now().Add(30 * time.Second)
				for st.delivered.Load() < want && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				elapsed := time.Duration(st.last.Load() - start.UnixNano())
				got := st.delivered.Load()
				r := result{rate: float64(got) / elapsed.Seconds()}
				r.p50, r.p99 = st.percentiles()
				results[fmt.Sprintf("%s|%d|%s", tg.name, qos, via)] = r
				fmt.Printf("QoS %d via %-16s delivered %d/%d  %10.0f deliveries/s  p50 %v  p99 %v\n", qos, via, got, want, r.rate, r.p50, r.p99)
			}
		}
		pub.Disconnect(&paho.Disconnect{})
		closeAll()
	}

	// Ratios against the goals: ≥ 300,000 deliveries/s, and at QoS 0 at
	// least mosquitto's deliveries/s with no worse p99.
	emu, okE := results[targets[0].name+"|0|MQTT publisher"]
	fmt.Printf("goal ≥ %.0f deliveries/s: emulator QoS 0 via MQTT at %.2f× the goal\n", mqttGoal, emu.rate/mqttGoal)
	if len(targets) > 1 && okE {
		mq := results[targets[1].name+"|0|MQTT publisher"]
		if mq.rate > 0 {
			fmt.Printf("vs mosquitto at QoS 0: %.2f× its deliveries/s, p99 %v vs %v\n", emu.rate/mq.rate, emu.p99, mq.p99)
		}
	}
	fmt.Println("(at the offered rate, deliveries/s is bounded by rate × subscribers; raise MQTT_RATE to find the ceiling)")
	return nil
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
func startMosquitto(ctx context.Context, bin string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "wpsfn-mosquitto")
	if err != nil {
		return "", nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	body := "listener " + port + " 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 0\npersistence false\nlog_dest none\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
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
			return addr, stop, nil
		}
		if i > 50 {
			stop()
			return "", nil, errors.New("mosquitto did not listen within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
