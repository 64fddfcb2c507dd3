package emulator

import (
	"context"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	"github.com/golang-jwt/jwt/v5"
)

// mqttToken is a client token for hub's MQTT endpoint.
func (e *testEnv) mqttToken(hub, user string, roles ...string) string {
	c := e.claims(hub, user, roles...)
	c["aud"] = e.base + "/clients/mqtt/hubs/" + hub
	return sign(e.t, c, DefaultAccessKey)
}

// mqttURL is hub's MQTT endpoint; query (starting with &) is appended.
func (e *testEnv) mqttURL(hub, token string, query ...string) string {
	u := e.ws + "/clients/mqtt/hubs/" + hub + "?x=1"
	if token != "" {
		u += "&access_token=" + url.QueryEscape(token)
	}
	for _, q := range query {
		u += q
	}
	return u
}

// mqttNetConn opens the WebSocket (subprotocol mqtt) that an MQTT client
// then speaks over.
func (e *testEnv) mqttNetConn(t testing.TB, hub, token string, query ...string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.mqttURL(hub, token, query...), &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatalf("dial MQTT endpoint: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "mqtt" {
		t.Fatalf("subprotocol %q, want mqtt echoed", got)
	}
	nc := &lockedConn{Conn: websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// lockedConn is a net.Conn that is also a sync.Locker: paho.golang's
// packets lock such a conn around the several Writes of one packet (as
// autopaho's own WebSocket wrapper does), so its pinger's PINGREQ cannot
// land inside another packet.
type lockedConn struct {
	net.Conn
	sync.Mutex
}

// pahoV5 is a connected paho.golang (MQTT 5.0) client and what it received.
type pahoV5 struct {
	*paho.Client
	got  chan *paho.Publish
	ack  *paho.Connack
	disc chan *paho.Disconnect // DISCONNECTs the server sent
}

type pahoV5Opts struct {
	clientID      string
	clean         bool
	sessionExpiry uint32
	manualAck     bool
	username      string
	password      []byte
	query         string // appended to the URL
	receiveMax    uint16 // 0: none sent
	will          *paho.WillMessage
	willDelay     uint32
}

func (e *testEnv) pahoV5(t testing.TB, hub, token string, o pahoV5Opts) (*pahoV5, error) {
	t.Helper()
	p := &pahoV5{got: make(chan *paho.Publish, 1000), disc: make(chan *paho.Disconnect, 1)}
	cfg := paho.ClientConfig{
		OnServerDisconnect:         func(d *paho.Disconnect) { p.disc <- d },
		Conn:                       e.mqttNetConn(t, hub, token, o.query),
		EnableManualAcknowledgment: o.manualAck,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p.got <- pr.Packet
			return true, nil
		}},
	}
	p.Client = paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: o.clientID, KeepAlive: 30, CleanStart: o.clean, Username: o.username, Password: o.password,
		UsernameFlag: o.username != "", PasswordFlag: o.password != nil}
	cp.Properties = &paho.ConnectProperties{}
	if o.sessionExpiry > 0 {
		cp.Properties.SessionExpiryInterval = &o.sessionExpiry
	}
	if o.receiveMax > 0 {
		cp.Properties.ReceiveMaximum = &o.receiveMax
	}
	if o.will != nil {
		cp.WillMessage = o.will
		if o.willDelay > 0 {
			cp.WillProperties = &paho.WillProperties{WillDelayInterval: &o.willDelay}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := p.Connect(ctx, cp)
	p.ack = ack
	if err == nil {
		t.Cleanup(func() { p.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	}
	return p, err
}

func (p *pahoV5) next(t testing.TB) *paho.Publish {
	t.Helper()
	select {
	case m := <-p.got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no PUBLISH received within 5 s")
		return nil
	}
}

// serverDisconnect is the DISCONNECT the server sent, within 5 s.
func (p *pahoV5) serverDisconnect(t testing.TB) *paho.Disconnect {
	t.Helper()
	select {
	case d := <-p.disc:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT from the server within 5 s")
		return nil
	}
}

func (p *pahoV5) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-p.got:
		t.Fatalf("unexpected PUBLISH on %q: %q", m.Topic, m.Payload)
	case <-time.After(d):
	}
}

func (p *pahoV5) sub(t testing.TB, topic string, qos byte) *paho.Suback {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := p.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}})
	if err != nil && sa == nil {
		t.Fatalf("SUBSCRIBE %s: %v", topic, err)
	}
	return sa
}

// claimsWithAud is a token's claims for an explicit audience.
func (e *testEnv) signClaims(c jwt.MapClaims) string { return sign(e.t, c, DefaultAccessKey) }
