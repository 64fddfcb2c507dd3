package emulator

// Tests with Go's paho.mqtt.golang, an MQTT 3.1.1 client.

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	pahomqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// pahoV3 connects a paho.mqtt.golang (MQTT 3.1.1) client.
func (e *testEnv) pahoV3(t testing.TB, hub, token, clientID string, clean bool, onMsg func(pahomqtt.Message), query ...string) (pahomqtt.Client, error) {
	t.Helper()
	opts := pahomqtt.NewClientOptions().AddBroker(e.mqttURL(hub, token, query...)).SetClientID(clientID).
		SetProtocolVersion(4).SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).SetOrderMatters(false).SetConnectTimeout(5 * time.Second).
		SetHTTPHeaders(http.Header{})
	if onMsg != nil {
		opts.SetDefaultPublishHandler(func(_ pahomqtt.Client, m pahomqtt.Message) { onMsg(m) })
	}
	c := pahomqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("paho.mqtt.golang: CONNECT timed out")
	}
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(100) })
	}
	return c, tok.Error()
}

func TestMQTTv311PublishSubscribeQoS(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "u1", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	got := make(chan pahomqtt.Message, 100)
	sub, err := e.pahoV3(t, "h", tok, "sub3", true, func(m pahomqtt.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	pub, err := e.pahoV3(t, "h", tok, "pub3", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, subQoS := range []byte{0, 1, 2} {
		topic := "v3t" + string('0'+rune(subQoS))
		if tk := sub.Subscribe(topic, subQoS, nil); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
			t.Fatalf("SUBSCRIBE: %v", tk.Error())
		} else if g := tk.(*pahomqtt.SubscribeToken).Result()[topic]; g != subQoS {
			t.Fatalf("granted QoS %d, want %d", g, subQoS)
		}
		for _, pubQoS := range []byte{0, 1, 2} {
			t.Run("sub"+string('0'+rune(subQoS))+"/pub"+string('0'+rune(pubQoS)), func(t *testing.T) {
				if tk := pub.Publish(topic, pubQoS, false, mqttBinary); !tk.WaitTimeout(5*time.Second) || tk.Error() != nil {
					t.Fatalf("PUBLISH: %v", tk.Error())
				}
				select {
				case m := <-got:
					if m.Topic() != topic || !bytes.Equal(m.Payload(), mqttBinary) || m.Qos() != min(subQoS, pubQoS) {
						t.Fatalf("got %q QoS %d %d bytes, want %q QoS %d and the payload byte for byte", m.Topic(), m.Qos(), len(m.Payload()), topic, min(subQoS, pubQoS))
					}
				case <-time.After(5 * time.Second):
					t.Fatal("nothing received")
				}
			})
		}
	}
}
