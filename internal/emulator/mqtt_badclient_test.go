package emulator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// rawMQTT is a hand-driven MQTT connection for input no real client sends.
type rawMQTT struct {
	t  testing.TB
	ws *websocket.Conn
	br *bufio.Reader
	v  byte
}

func (e *testEnv) rawMQTT(t testing.TB, hub, token string, query ...string) *rawMQTT {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.mqttURL(hub, token, query...), &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(-1)
	return &rawMQTT{t: t, ws: ws, br: bufio.NewReader(&mqttStream{ws: ws, ctx: context.Background()})}
}

// rawConnack sends a CONNECT at level v and returns the CONNACK's code.
func (e *testEnv) rawConnack(t testing.TB, v byte, hub, token, query string) byte {
	t.Helper()
	r := e.rawMQTT(t, hub, token, query)
	r.v = v
	r.sendPacket(connectPacket(v, "raw"+string('0'+rune(v)), 30))
	ack, err := r.next()
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("CONNACK %+v %v", ack, err)
	}
	return ack.ReasonCode
}

// rawConnected is a raw connection after an accepted CONNECT.
func (e *testEnv) rawConnected(t testing.TB, v byte, hub, token, id string) *rawMQTT {
	t.Helper()
	r := e.rawMQTT(t, hub, token)
	r.v = v
	r.sendPacket(connectPacket(v, id, 30))
	if ack, err := r.next(); err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %+v %v", ack, err)
	}
	return r
}

func (r *rawMQTT) send(b []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawMQTT) sendPacket(pk packets.Packet) {
	r.t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(buf.Bytes())
}

// next reads the server's next packet (server packets decoded too), or
// returns the error that ended the connection.
func (r *rawMQTT) next() (packets.Packet, error) {
	type res struct {
		pk  packets.Packet
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var pk packets.Packet
		b, err := r.br.ReadByte()
		if err != nil {
			ch <- res{err: err}
			return
		}
		n, _, err := packets.DecodeLength(r.br)
		if err != nil {
			ch <- res{err: err}
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r.br, body); err != nil {
			ch <- res{err: err}
			return
		}
		raw := append([]byte{b}, encodeLen(n)...)
		raw = append(raw, body...)
		if t := b >> 4; t == packets.Connack || t == packets.Suback || t == packets.Unsuback || t == packets.Pingresp {
			pk = decodeServerPacket(r.v, raw)
		} else {
			pk, err = readMQTTPacket(bufio.NewReader(bytes.NewReader(raw)), r.v, len(raw))
		}
		ch <- res{pk, err}
	}()
	select {
	case x := <-ch:
		return x.pk, x.err
	case <-time.After(5 * time.Second):
		r.t.Fatal("no packet and no close within 5 s")
		return packets.Packet{}, nil
	}
}

func encodeLen(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// closed expects the server to end the connection (after any packets,
// which it returns).
func (r *rawMQTT) closed() []packets.Packet {
	r.t.Helper()
	var got []packets.Packet
	for {
		pk, err := r.next()
		if err != nil {
			return got
		}
		got = append(got, pk)
		if len(got) > 10 {
			r.t.Fatal("connection kept open")
		}
	}
}

func connectPacket(v byte, clientID string, keepAlive uint16) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: v,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: clientID, Keepalive: keepAlive, Clean: true}}
}

func TestMQTTConnectConstraints(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u")
	willTooBig := connectPacket(5, "w1", 30)
	willTooBig.Connect.WillFlag, willTooBig.Connect.WillTopic, willTooBig.Connect.WillPayload = true, "will", bytes.Repeat([]byte("x"), 2001)
	willBlank := connectPacket(4, "w2", 30)
	willBlank.Connect.WillFlag, willBlank.Connect.WillTopic, willBlank.Connect.WillPayload = true, "  ", []byte("x")
	mqisdp := connectPacket(3, "old", 30)
	mqisdp.Connect.ProtocolName = []byte("MQIsdp")
	for _, tc := range []struct {
		name string
		pk   packets.Packet
		v    byte
		code byte
	}{
		{"client id with underscore v5", connectPacket(5, "mqttjs_1a2b", 30), 5, 0x85},
		{"client id with underscore v3", connectPacket(4, "mqttjs_1a2b", 30), 4, 2},
		{"client id too long v5", connectPacket(5, strings.Repeat("a", 129), 30), 5, 0x85},
		{"empty client id v3", connectPacket(4, "", 30), 4, 2},
		{"keep-alive 0 v3", connectPacket(4, "ka0", 0), 4, 2},
		{"keep-alive 181 v3", connectPacket(4, "ka181", 181), 4, 2},
		{"will payload over 2000 bytes", willTooBig, 5, 0x82},
		{"blank will topic", willBlank, 4, 2},
		{"MQTT 3.1", mqisdp, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.rawMQTT(t, "h", tok)
			r.v = tc.v
			r.sendPacket(tc.pk)
			got := r.closed()
			if len(got) != 1 || got[0].FixedHeader.Type != packets.Connack || got[0].ReasonCode != tc.code {
				t.Fatalf("got %+v, want one CONNACK with code %#x then the close", got, tc.code)
			}
		})
	}
	t.Run("assigned client id and server keep-alive v5", func(t *testing.T) {
		r := e.rawMQTT(t, "h", tok)
		r.v = 5
		r.sendPacket(connectPacket(5, "", 0))
		ack, err := r.next()
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %+v %v", ack, err)
		}
		if id := ack.Properties.AssignedClientID; !validMQTTClientID(id) {
			t.Errorf("assigned client id %q", id)
		}
		if !ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != 180 {
			t.Errorf("server keep-alive %+v, want 180", ack.Properties)
		}
	})
}

func TestMQTTBadInput(t *testing.T) {
	e := newEnv(t, Config{MaxMessageBytes: 1024})
	tok := e.mqttToken("h", "u", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	connected := func(t *testing.T, v byte, id string) *rawMQTT {
		r := e.rawMQTT(t, "h", tok)
		r.v = v
		r.sendPacket(connectPacket(v, id, 30))
		if ack, err := r.next(); err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %+v %v", ack, err)
		}
		return r
	}
	wantDisconnect := func(t *testing.T, r *rawMQTT, code byte) {
		t.Helper()
		got := r.closed()
		if len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != code {
			t.Fatalf("got %+v, want DISCONNECT %#x then the close", got, code)
		}
	}
	t.Run("PUBLISH before CONNECT", func(t *testing.T) {
		r := e.rawMQTT(t, "h", tok)
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: []byte("x"), ProtocolVersion: 4})
		if got := r.closed(); len(got) != 0 {
			t.Fatalf("got %+v, want the connection closed without an answer", got)
		}
	})
	t.Run("remaining length overflow", func(t *testing.T) {
		r := e.rawMQTT(t, "h", tok)
		r.send([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01})
		if got := r.closed(); len(got) != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("truncated CONNECT", func(t *testing.T) {
		r := e.rawMQTT(t, "h", tok)
		r.send([]byte{0x10, 0x04, 0x00, 0x04, 'M', 'Q'})
		if got := r.closed(); len(got) != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("text frame", func(t *testing.T) {
		r := e.rawMQTT(t, "h", tok)
		r.ws.Write(context.Background(), websocket.MessageText, []byte("hello"))
		r.closed()
	})
	t.Run("second CONNECT v5", func(t *testing.T) {
		r := connected(t, 5, "twice5")
		r.sendPacket(connectPacket(5, "twice5", 30))
		wantDisconnect(t, r, 0x82)
	})
	t.Run("second CONNECT v3", func(t *testing.T) {
		r := connected(t, 4, "twice3")
		r.sendPacket(connectPacket(4, "twice3", 30))
		if got := r.closed(); len(got) != 0 {
			t.Fatalf("got %+v, want a close", got)
		}
	})
	t.Run("oversize PUBLISH v5", func(t *testing.T) {
		r := connected(t, 5, "big5")
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: make([]byte, 2000), ProtocolVersion: 5})
		wantDisconnect(t, r, 0x95)
	})
	t.Run("malformed SUBSCRIBE v5", func(t *testing.T) {
		r := connected(t, 5, "mal5")
		// Packet id 1, no properties, filter "t" without its options byte:
		// mochi's decoder would index past the end.
		r.send([]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 't'})
		wantDisconnect(t, r, 0x81)
	})
	t.Run("retained PUBLISH v5", func(t *testing.T) {
		r := connected(t, 5, "ret5")
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: "t", Payload: []byte("x"), ProtocolVersion: 5})
		wantDisconnect(t, r, 0x9A)
	})
	t.Run("topic alias v5", func(t *testing.T) {
		r := connected(t, 5, "alias5")
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: []byte("x"), ProtocolVersion: 5}
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 1, true
		r.sendPacket(pk)
		wantDisconnect(t, r, 0x94)
	})
	t.Run("wildcard PUBLISH v5", func(t *testing.T) {
		r := connected(t, 5, "wild5")
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "a/+", Payload: []byte("x"), ProtocolVersion: 5})
		wantDisconnect(t, r, 0x82)
	})
	t.Run("retained PUBLISH v3 is delivered, retain ignored", func(t *testing.T) {
		r := connected(t, 4, "ret3")
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
			Filters: packets.Subscriptions{{Filter: "r3", Qos: 0}}})
		if sa, err := r.next(); err != nil || sa.FixedHeader.Type != packets.Suback {
			t.Fatalf("SUBACK %+v %v", sa, err)
		}
		r.sendPacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: "r3", Payload: []byte("kept?"), ProtocolVersion: 4})
		pk, err := r.next()
		if err != nil || pk.TopicName != "r3" || string(pk.Payload) != "kept?" || pk.FixedHeader.Retain {
			t.Fatalf("got %+v %v, want the message without retain", pk, err)
		}
	})
	// The server is still fine.
	r := connected(t, 5, "after")
	_ = r
	if err := e.s.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// FuzzMQTTPacket feeds arbitrary bytes through the packet reader for each
// protocol level and the trace summary: a packet is decoded, refused with a
// code, or the input ends; nothing panics.
func FuzzMQTTPacket(f *testing.F) {
	seed := func(pk packets.Packet) {
		var buf bytes.Buffer
		switch pk.FixedHeader.Type {
		case packets.Connect:
			pk.ConnectEncode(&buf)
		case packets.Publish:
			pk.PublishEncode(&buf)
		case packets.Subscribe:
			pk.SubscribeEncode(&buf)
		case packets.Unsubscribe:
			pk.UnsubscribeEncode(&buf)
		}
		f.Add(buf.Bytes())
	}
	seed(connectPacket(4, "c", 30))
	c5 := connectPacket(5, "c", 30)
	c5.Connect.WillFlag, c5.Connect.WillTopic, c5.Connect.WillPayload = true, "w", []byte("x")
	c5.Properties.SessionExpiryInterval, c5.Properties.SessionExpiryIntervalFlag = 30, true
	seed(c5)
	p5 := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7, TopicName: "t", Payload: []byte("x"), ProtocolVersion: 5}
	p5.Properties.ContentType = "application/json"
	p5.Properties.User = []packets.UserProperty{{Key: "k", Val: "v"}}
	seed(p5)
	seed(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 5, Filters: packets.Subscriptions{{Filter: "a", Qos: 2}}})
	seed(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4, Filters: packets.Subscriptions{{Filter: "a"}}})
	f.Add([]byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 't'})
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0xc0, 0x00, 0xe0, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []byte{0, 4, 5} {
			br := bufio.NewReader(bytes.NewReader(data))
			for range 16 {
				pk, err := readMQTTPacket(br, v, 1<<16)
				if err != nil {
					var de *mqttDecodeError
					if errors.As(err, &de) && de.Code.Code < 0x80 {
						t.Fatalf("refusal with success code %#x", de.Code.Code)
					}
					break
				}
				_ = mqttSummary(&pk)
			}
			_ = mqttBytesSummary(v, data)
		}
	})
}
