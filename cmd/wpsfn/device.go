package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// The simulated telemetry device: an MQTT 5 client (paho.golang's
// autopaho) on the hub's MQTT endpoint, publishing one JSON reading a
// second at QoS 1 to a topic, which Web PubSub treats as a group: the
// dashboard page, joined to that group over the JSON WebSocket
// subprotocol, shows each reading as it arrives. It connects as a device
// of a real deployment would: with a client access token for the MQTT
// endpoint (minted before every connection attempt, so a reconnect never
// presents an expired one) that names the device as its user and lets it
// publish to its topic only.

// Defaults of deviceConfig's zero fields.
const (
	defaultDeviceID       = "sensor1"
	defaultDeviceTopic    = "telemetry"
	defaultDeviceInterval = time.Second
)

// deviceConfig configures runDevice.
type deviceConfig struct {
	// ID is the MQTT client id and the token's user; [0-9A-Za-z]{1,128}, as
	// the service requires of client ids. Empty: defaultDeviceID.
	ID string
	// Topic the readings are published to. Empty: defaultDeviceTopic.
	Topic string
	// Interval between readings. Zero: defaultDeviceInterval.
	Interval time.Duration
	// Client mints the device's MQTT client access tokens.
	Client interface {
		ClientAccessURL(ctx context.Context, opts *wps.ClientAccessOptions) (wps.ClientAccess, error)
	}
	// Endpoint is the hub's MQTT endpoint, ws(s)://host/clients/mqtt/hubs/{hub}
	// (named in autopaho's error messages; the token's own base URL is dialled).
	Endpoint string
	// Logger receives the device's lines; nil means slog.Default().
	Logger *slog.Logger
}

// reading is one telemetry message, the JSON payload of each publish.
type reading struct {
	Device      string    `json:"device"`
	Seq         uint64    `json:"seq"`         // counts up from 1; a gap is a reading not delivered
	Temperature float64   `json:"temperature"` // °C, one decimal
	Humidity    float64   `json:"humidity"`    // % relative humidity, one decimal
	Time        time.Time `json:"time"`        // when it was measured
}

func (c *deviceConfig) validate() error {
	if c.ID == "" {
		c.ID = defaultDeviceID
	}
	if c.Topic == "" {
		c.Topic = defaultDeviceTopic
	}
	if c.Interval == 0 {
		c.Interval = defaultDeviceInterval
	}
	switch {
	case len(c.ID) > 128 || strings.IndexFunc(c.ID, func(r rune) bool { return !isAlnum(r) }) >= 0:
		return fmt.Errorf("device id %q: an MQTT client id of Web PubSub is 1 to 128 letters and digits", c.ID)
	case !wps.ValidGroup(c.Topic) || strings.ContainsAny(c.Topic, "+#") || strings.HasPrefix(c.Topic, "$"):
		return fmt.Errorf("device topic %q: must be a valid group name without the wildcards + and # and not start with $", c.Topic)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("device interval %v: must be at least 10ms", c.Interval)
	case c.Client == nil:
		return errors.New("device: no client to mint its access token")
	}
	if _, err := url.Parse(c.Endpoint); err != nil || c.Endpoint == "" {
		return fmt.Errorf("device endpoint %q is not a URL", c.Endpoint)
	}
	return nil
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// deviceConnectTimeout bounds one connection attempt (token, WebSocket
// handshake, CONNECT/CONNACK); devicePublishTimeout one PUBLISH/PUBACK.
const (
	deviceConnectTimeout = 10 * time.Second
	devicePublishTimeout = 5 * time.Second
	// deviceMaxPacket bounds what the device reads from the service.
	deviceMaxPacket = 1 << 20
)

// runDevice connects and publishes until ctx ends, reconnecting whenever
// the connection drops. It returns once the client has sent its DISCONNECT
// and every goroutine it started has ended; the error is only for a bad
// configuration.
func runDevice(ctx context.Context, cfg deviceConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("device", cfg.ID)
	endpoint, _ := url.Parse(cfg.Endpoint)

	// The sockets live until the client is done with them, not until ctx
	// ends: the DISCONNECT is written after ctx ended.
	sockCtx, closeSockets := context.WithCancel(context.WithoutCancel(ctx))
	defer closeSockets()
	var connected atomic.Bool
	cm, err := autopaho.NewConnection(context.WithoutCancel(ctx), autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{endpoint},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectTimeout:                deviceConnectTimeout,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 10*time.Second, time.Second, 2),
		AttemptConnection: func(actx context.Context, _ autopaho.ClientConfig, _ *url.URL) (net.Conn, error) {
			return dialDevice(actx, sockCtx, cfg)
		},
		OnConnectionUp: func(*autopaho.ConnectionManager, *paho.Connack) {
			connected.Store(true)
			log.Info("device connected", "endpoint", cfg.Endpoint, "topic", cfg.Topic)
		},
		OnConnectionDown: func() bool {
			connected.Store(false)
			log.Info("device connection lost; reconnecting")
			return true
		},
		OnConnectError: func(err error) {
			if ctx.Err() == nil {
				log.Warn("device could not connect", "err", err)
			}
		},
		ClientConfig: paho.ClientConfig{
			ClientID: cfg.ID,
			// What the service sends the device (the connect function's
			// greeting on $webpubsub/server/messages) is acknowledged and
			// otherwise ignored.
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(paho.PublishReceived) (bool, error) { return true, nil },
			},
		},
	})
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	defer func() {
		// Stopped in order: DISCONNECT while the service still serves, then
		// the sockets; autopaho's Done means its goroutines have ended.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deviceConnectTimeout)
		defer cancel()
		if err := cm.Disconnect(dctx); err != nil {
			log.Warn("device disconnect", "err", err)
		}
		closeSockets()
		log.Info("device stopped")
	}()
	if cm.AwaitConnection(ctx) != nil {
		return nil // stopped before the first connection
	}
	sim := newSensor(cfg.ID, time.Now())
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			r := sim.next(now)
			payload, _ := json.Marshal(r)
			pctx, cancel := context.WithTimeout(ctx, devicePublishTimeout)
			_, err := cm.Publish(pctx, &paho.Publish{
				QoS: 1, Topic: cfg.Topic, Payload: payload,
				Properties: &paho.PublishProperties{ContentType: "application/json"},
			})
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil && connected.Load() && !failing:
				// Refused while connected (e.g. not authorised): said once
				// until a publish succeeds again, not every second.
				failing = true
				log.Warn("device publish failed", "seq", r.Seq, "err", err)
			case err != nil:
				log.Debug("device reading not sent", "seq", r.Seq, "err", err)
			default:
				failing = false
				log.Debug("device reading published", "seq", r.Seq, "temperature", r.Temperature, "humidity", r.Humidity)
			}
		}
	}
}

// dialDevice opens one MQTT WebSocket: a fresh token, then the handshake
// with subprotocol mqtt and the token as a bearer header (not in the URL,
// which ends up in logs).
func dialDevice(ctx, sockCtx context.Context, cfg deviceConfig) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, deviceConnectTimeout)
	defer cancel()
	ca, err := cfg.Client.ClientAccessURL(ctx, &wps.ClientAccessOptions{
		UserID: cfg.ID, Roles: []string{wps.RoleSendToGroup(cfg.Topic)}, Protocol: wps.ProtocolMQTT,
	})
	if err != nil {
		return nil, fmt.Errorf("minting the device's access token: %w", err)
	}
	ws, _, err := websocket.Dial(ctx, ca.BaseURL, &websocket.DialOptions{
		Subprotocols: []string{"mqtt"},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + ca.Token}},
	})
	if err != nil {
		return nil, fmt.Errorf("opening the MQTT WebSocket: %w", err)
	}
	nc := websocket.NetConn(sockCtx, ws, websocket.MessageBinary)
	ws.SetReadLimit(deviceMaxPacket) // after NetConn, which lifts the limit
	// autopaho writes from several goroutines.
	return packets.NewThreadSafeConn(nc), nil
}

// sensor simulates a room sensor: a slow daily-like swing with some noise.
type sensor struct {
	id    string
	start time.Time
	seq   uint64
	rnd   *rand.Rand
}

func newSensor(id string, start time.Time) *sensor {
	return &sensor{id: id, start: start, rnd: rand.New(rand.NewPCG(uint64(start.UnixNano()), 0x5e))}
}

func (s *sensor) next(now time.Time) reading {
	s.seq++
	phase := 2 * math.Pi * now.Sub(s.start).Seconds() / 120 // a two-minute cycle
	round := func(v float64) float64 { return math.Round(v*10) / 10 }
	return reading{
		Device:      s.id,
		Seq:         s.seq,
		Temperature: round(21.5 + 2.5*math.Sin(phase) + s.rnd.NormFloat64()*0.15),
		Humidity:    round(45 - 6*math.Sin(phase) + s.rnd.NormFloat64()*0.4),
		Time:        now.UTC().Truncate(time.Millisecond),
	}
}
