package emulator

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// FuzzMQTTSession sends arbitrary bytes, from the first (CONNECT) packet on,
// to a running emulator's MQTT endpoint with a token that may publish and
// subscribe anywhere: CONNECT validation, session creation, resumption and
// takeover (inputs share client ids), the packets after it and the ends of
// the connection all run. Whatever the input, the server answers or
// closes, never panics, and still serves the next client.
func FuzzMQTTSession(f *testing.F) {
	e := newEnv(f, Config{OutboundQueue: 64})
	tok := e.mqttToken("h", "fuzz", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	url := e.mqttURL("h", tok)

	enc := func(pks ...packets.Packet) []byte {
		var out bytes.Buffer
		for _, pk := range pks {
			var err error
			switch pk.FixedHeader.Type {
			case packets.Connect:
				err = pk.ConnectEncode(&out)
			case packets.Subscribe:
				err = pk.SubscribeEncode(&out)
			case packets.Pubrel:
				err = pk.PubrelEncode(&out)
			default:
				var b []byte
				if b, err = encodeMQTT(&pk); err == nil {
					out.Write(b)
				}
			}
			if err != nil {
				f.Fatal(err)
			}
		}
		return out.Bytes()
	}
	c5 := connectPacket(5, "s1", 30)
	c5.Properties.SessionExpiryInterval, c5.Properties.SessionExpiryIntervalFlag = 30, true
	c5.Properties.ReceiveMaximum = 1
	will := connectPacket(5, "s2", 30)
	will.Connect.WillFlag, will.Connect.WillTopic, will.Connect.WillPayload, will.Connect.WillQos = true, "t", []byte("bye"), 1
	will.Connect.WillProperties.WillDelayInterval = 1
	c4 := connectPacket(4, "s1", 30)
	c4.Connect.Clean = false
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 5,
		Filters: packets.Subscriptions{{Filter: "t", Qos: 2}}}
	sub.Properties.SubscriptionIdentifier = []int{3}
	pub := func(v, qos byte, id uint16) packets.Packet {
		p := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, PacketID: id, TopicName: "t",
			Payload: []byte("x"), ProtocolVersion: v}
		if v == 5 {
			p.Properties.MessageExpiryInterval = 5
		}
		return p
	}
	rel := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 2, ProtocolVersion: 5}
	disc := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5, ReasonCode: 0x04}
	f.Add(enc(c5, sub, pub(5, 1, 1), pub(5, 2, 2), rel, pub(5, 0, 0), disc))
	f.Add(enc(will, sub, pub(5, 2, 7)))
	f.Add(enc(c4, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
		Filters: packets.Subscriptions{{Filter: "t", Qos: 1}}}, pub(4, 1, 1)))
	f.Add(enc(c5, c5))
	f.Add(enc(connectPacket(5, "", 0)))
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01})

	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Fatalf("dial: %v", err) // the server stopped serving
		}
		defer ws.CloseNow()
		// What the server sends is not read here: the reader below drains
		// it so that the server's writes never back up.
		read := make(chan struct{})
		defer func() { <-read }() // after CloseNow, which ends it
		go func() {
			defer close(read)
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		if len(data) > 0 && ws.Write(ctx, websocket.MessageBinary, data) != nil {
			return // the server closed first
		}
		// The close handshake returns once the server has read past the
		// input: every packet in it was handled.
		ws.Close(websocket.StatusNormalClosure, "")
	})
}
