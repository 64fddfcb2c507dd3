package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// startDeviceDemo runs `wpsfn dev` in-process with its simulated device,
// logging into logs as well as t.Log; stop shuts it down and reports
// whether runDev returned cleanly.
func startDeviceDemo(t *testing.T, logs io.Writer, keyless bool) (st *devStack, stop func() error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs, &testWriter{t: t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, stop = launchDevWith(t, devOptions{Device: true, Keyless: keyless, Logger: log})
	t.Cleanup(func() { stop() })
	return st, stop
}

// mqttObserver is a paho.golang MQTT 5 client subscribed to topic with a
// token from the stack's connection string (as `wpsfn token --protocol
// mqtt` mints it): it sees exactly what the device publishes.
func mqttObserver(t *testing.T, st *devStack, id, topic string) (<-chan *paho.Publish, *paho.Client) {
	t.Helper()
	client, err := wps.NewClientFromConnectionString(st.ConnectionString, st.Hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: id, Roles: []string{wps.RoleJoinLeaveGroup(topic)}, Protocol: wps.ProtocolMQTT})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, ca.URL, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatalf("MQTT WebSocket: %v", err)
	}
	got := make(chan *paho.Publish, 100)
	c := paho.NewClient(paho.ClientConfig{
		Conn: packets.NewThreadSafeConn(websocket.NetConn(context.Background(), ws, websocket.MessageBinary)),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if pr.Packet.Topic == topic {
				select {
				case got <- pr.Packet:
				default:
				}
			}
			return true, nil
		}},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("MQTT connect: %v", err)
	}
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe: %+v %v; want QoS 1 granted", sa, err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return got, c
}

// TestDevDeviceTelemetry follows the demo's readings from the device's
// publish to the two kinds of subscriber: an MQTT client on the topic and a
// WebSocket client that joined the topic's group through negotiate and the
// connect function (as the dashboard does). Both get the same readings;
// the device reconnects after its socket is severed and continues; at
// shutdown it disconnects first, on its own, and nothing is logged above
// INFO; none of its goroutines outlives runDev.
func TestDevDeviceTelemetry(t *testing.T) {
	var logs syncbuf.Buffer
	st, stop := startDeviceDemo(t, &logs, false)
	if st.Device != "sensor1" || st.DeviceTopic != "telemetry" {
		t.Fatalf("device %q topic %q, want sensor1 on telemetry", st.Device, st.DeviceTopic)
	}
	// The WebSocket client joins first: every reading the observer gets
	// after it subscribed then reaches the WebSocket client too.
	web := dial(t, st, "watcher")
	web.expect("connected", func(m map[string]any) bool { return m["event"] == "connected" })
	web.send(map[string]any{"type": "joinGroup", "group": "telemetry", "ackId": 1})
	if ack := web.expect("join ack", isAck(1)); ack["success"] != true {
		t.Fatalf("joining the topic's group: %v", ack)
	}
	mqttGot, observer := mqttObserver(t, st, "observer1", "telemetry")

	// next returns the next reading both subscribers got, checking they got
	// the same one.
	next := func() reading {
		t.Helper()
		var pub *paho.Publish
		var sent reading
		for sent.Seq == 0 { // skipping the connect function's join notices
			select {
			case pub = <-mqttGot:
			case <-time.After(10 * time.Second):
				t.Fatal("the MQTT observer got no reading within 10s")
			}
			if err := json.Unmarshal(pub.Payload, &sent); err != nil {
				t.Fatalf("payload %q: %v", pub.Payload, err)
			}
		}
		if pub.QoS != 1 || pub.Properties == nil || pub.Properties.ContentType != "application/json" {
			t.Errorf("publish QoS %d properties %+v; want QoS 1, application/json", pub.QoS, pub.Properties)
		}
		m := web.expect("the group message", func(m map[string]any) bool {
			d := data(m)
			return m["group"] == "telemetry" && d != nil && d["seq"] == float64(sent.Seq)
		})
		if m["from"] != "group" || m["dataType"] != "json" || m["fromUserId"] != "sensor1" {
			t.Errorf("WebSocket client got %v; want a json group message from user sensor1", m)
		}
		var shown reading
		b, _ := json.Marshal(m["data"])
		json.Unmarshal(b, &shown)
		assert.Equal(t, "reading shown to the WebSocket client", shown, sent)
		return sent
	}
	first := next()
	prev := first
	for range 2 {
		r := next()
		if r.Seq != prev.Seq+1 {
			t.Errorf("seq %d after %d", r.Seq, prev.Seq)
		}
		prev = r
	}
	for _, r := range []reading{first, prev} {
		if r.Device != "sensor1" || r.Temperature < 15 || r.Temperature > 28 || r.Humidity < 30 || r.Humidity > 60 || time.Since(r.Time) > 10*time.Second {
			t.Errorf("implausible reading %+v", r)
		}
	}

	// A network failure: the device reconnects and goes on counting.
	if !st.Emulator.DropSocket("sensor1") {
		t.Fatal("the device has no connection in the emulator")
	}
	deadline := time.Now().Add(15 * time.Second)
	for r := next(); r.Seq <= prev.Seq+1; r = next() {
		if time.Now().After(deadline) {
			t.Fatalf("no reading after the reconnect; last seq %d", r.Seq)
		}
	}
	if n := strings.Count(logs.String(), `msg="device connected"`); n != 2 || !strings.Contains(logs.String(), "device connection lost; reconnecting") {
		t.Errorf("device connected %d times, want 2 with the loss logged", n)
	}

	observer.Disconnect(&paho.Disconnect{})
	if err := stop(); err != nil {
		t.Fatalf("runDev after shutdown: %v", err)
	}
	log := logs.String()
	_, shutdown, _ := strings.Cut(log, `msg="shutting down"`)
	for _, l := range strings.Split(shutdown, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Errorf("logged at WARN/ERROR during shutdown: %s", l)
		}
	}
	stopped := strings.Index(shutdown, `msg="device stopped"`)
	closed := strings.Index(shutdown, `msg="emulator: connection closed" component=emulator hub=chat connectionId=sensor1 reason="ClientClosed: the client sent DISCONNECT."`)
	if stopped < 0 || closed < 0 {
		t.Errorf("the device did not disconnect on its own before the emulator stopped:\n%s", shutdown)
	}
	// Every goroutine of the device (autopaho, paho, its WebSocket) ended
	// with runDev; the observer's may take a moment longer.
	var stacks string
	for i := 0; i < 100; i++ {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "eclipse/paho.golang") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(stacks, "eclipse/paho.golang/autopaho") {
		t.Errorf("autopaho goroutines outlive runDev:\n%s", stacks)
	}
}

// TestDevDashboardServed checks the page, its configuration and its
// content security policy, also with `wpsfn dev --device=false` (the page
// then shows what other publishers send, and names no device).
func TestDevDashboardServed(t *testing.T) {
	for name, want := range map[bool]string{
		true:  `{"negotiateUrl":"/negotiate","hub":"chat","topic":"telemetry","device":"sensor1"}`,
		false: `{"negotiateUrl":"/negotiate","hub":"chat","topic":"telemetry"}`,
	} {
		t.Run(map[bool]string{true: "device", false: "no device"}[name], func(t *testing.T) {
			mux := http.NewServeMux()
			mountDashboard(mux, "chat", name)
			page := httptest.NewRecorder()
			mux.ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/dashboard", nil))
			assert.Equal(t, "status", page.Code, 200)
			assert.Contains(t, "page", page.Body.String(), `<script type="module" src="/static/dashboard.js"></script>`)
			assert.Contains(t, "CSP", page.Header().Get("Content-Security-Policy"), "default-src 'self'")
			cfg := httptest.NewRecorder()
			mux.ServeHTTP(cfg, httptest.NewRequest(http.MethodGet, "/dashboard/config.json", nil))
			assert.Equal(t, "config", cfg.Body.String(), want)
		})
	}
}

// TestDevDeviceKeylessSIGTERM runs the wpsfn binary's `dev --keyless`
// (its own process: azidentity's managed-identity token cache is
// process-wide, so a second keyless emulator in the test process would get
// the first one's tokens). The device mints its tokens through
// :generateToken with the emulator's managed identity, since no key exists;
// a negotiated client in the topic's group gets its readings; SIGTERM stops
// the device first and the process exits 0 at once with nothing logged at
// WARN or ERROR.
func TestDevDeviceKeylessSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the wpsfn binary")
	}
	cmd, base, stderr := startDevBinary(t, "--keyless", "--addr", "127.0.0.1:0", "--port-base", "0")
	st := &devStack{Hub: "chat", Keyless: true, BaseURL: base} // dial signs in through the emulator's tenant
	web := dial(t, st, "watcher")
	web.expect("connected", func(m map[string]any) bool { return m["event"] == "connected" })
	web.send(map[string]any{"type": "joinGroup", "group": "telemetry", "ackId": 1})
	if ack := web.expect("join ack", isAck(1)); ack["success"] != true {
		t.Fatalf("joining the topic's group: %v", ack)
	}
	m := web.expect("a reading", func(m map[string]any) bool { return m["group"] == "telemetry" && data(m)["device"] == "sensor1" })
	if m["fromUserId"] != "sensor1" || m["dataType"] != "json" || data(m)["seq"] == nil {
		t.Errorf("got %v", m)
	}

	// A prompt stop is asserted by what the log says (no step waited out a
	// grace period: no WARN), not by a wall-clock bound.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit %v after SIGTERM; want 0", err)
	}
	log := stderr.String()
	_, shutdown, _ := strings.Cut(log, `msg="shutting down"`)
	for _, l := range strings.Split(shutdown, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Errorf("logged at WARN/ERROR during shutdown: %s", l)
		}
	}
	if !strings.Contains(shutdown, `msg="device stopped"`) || !strings.Contains(shutdown, `connectionId=sensor1 reason="ClientClosed: the client sent DISCONNECT."`) {
		t.Errorf("the device did not disconnect on its own at shutdown:\n%s", shutdown)
	}
}

func TestDeviceConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  deviceConfig
		want string
	}{
		{"id with an underscore", deviceConfig{ID: "mqttjs_1"}, `device id "mqttjs_1"`},
		{"id too long", deviceConfig{ID: strings.Repeat("a", 129)}, "1 to 128 letters and digits"},
		{"wildcard topic", deviceConfig{Topic: "a/+"}, "without the wildcards"},
		{"reserved topic", deviceConfig{Topic: "$webpubsub/server/messages"}, "not start with $"},
		{"blank topic", deviceConfig{Topic: "  "}, "valid group name"},
		{"negative interval", deviceConfig{Interval: -time.Second}, "at least 10ms"},
		{"no client", deviceConfig{Endpoint: "ws://localhost/clients/mqtt/hubs/chat"}, "no client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate: %v; want an error with %q", err, tc.want)
			}
		})
	}
	ok := deviceConfig{Client: &wps.Client{}, Endpoint: "ws://localhost/clients/mqtt/hubs/chat"}
	assert.Success(t, ok.validate())
	assert.Equal(t, "defaults", [3]any{ok.ID, ok.Topic, ok.Interval}, [3]any{"sensor1", "telemetry", time.Second})
}

// refusedTopic mints tokens that let the device publish to another topic
// than its own, so the service refuses every publish.
type refusedTopic struct{ *wps.Client }

func (c refusedTopic) ClientAccessURL(ctx context.Context, o *wps.ClientAccessOptions) (wps.ClientAccess, error) {
	o.Roles = []string{wps.RoleSendToGroup("elsewhere")}
	return c.Client.ClientAccessURL(ctx, o)
}

// A refused publish (QoS 1: PUBACK 0x87, the session kept) is said once in
// the log, not once a reading, and the device keeps its connection.
func TestDeviceRefusedPublishSaidOnce(t *testing.T) {
	st := startDev(t, 0)
	client, err := wps.NewClientFromConnectionString(st.ConnectionString, st.Hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runDevice(ctx, deviceConfig{ID: "sensor9", Interval: 20 * time.Millisecond, Client: refusedTopic{client},
			Endpoint: mqttEndpoint(st.BaseURL, st.Hub), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), `msg="device reading not sent"`) < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	log := logs.String()
	if n := strings.Count(log, `level=WARN msg="device publish failed"`); n != 1 || !strings.Contains(log, "seq=1 ") {
		t.Errorf("the refusal logged %d times at WARN (want once, for seq 1):\n%s", n, log)
	}
	if n := strings.Count(log, `msg="device connected"`); n != 1 || strings.Contains(log, "connection lost") {
		t.Errorf("connected %d times; a refused QoS 1 publish must not cost the connection:\n%s", n, log)
	}
}
