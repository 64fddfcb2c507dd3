package main

import (
	"bytes"
	"encoding/binary"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/wpsfn/wpsfn/internal/assert"
)

// publishBytes is a PUBLISH as paho.golang encodes it, carrying sent in its
// payload's first 8 bytes.
func publishBytes(t *testing.T, qos byte, id uint16, sent int64) []byte {
	t.Helper()
	p := make([]byte, 64)
	binary.BigEndian.PutUint64(p, uint64(sent))
	ct := "application/octet-stream"
	pk := &packets.Publish{Topic: mqttTopicQoS1, QoS: qos, PacketID: id, Payload: p, Properties: &packets.Properties{ContentType: ct}}
	var b bytes.Buffer
	if _, err := pk.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// serverFrame is payload as one unmasked binary WebSocket frame.
func serverFrame(payload []byte) []byte {
	b := appendFrameHeaderForTest(nil, len(payload))
	return append(b, payload...)
}

func appendFrameHeaderForTest(b []byte, n int) []byte {
	if n < 126 {
		return append(b, 0x82, byte(n))
	}
	return append(b, 0x82, 126, byte(n>>8), byte(n))
}

// unmask decodes one masked client frame.
func unmask(t *testing.T, f []byte) []byte {
	t.Helper()
	if len(f) < 6 || f[0] != 0x82 || f[1]&0x80 == 0 {
		t.Fatalf("not a masked binary frame: % x", f)
	}
	n := int(f[1] & 0x7f)
	key, p := f[2:6], f[6:]
	assert.Equal(t, "frame length", len(p), n)
	out := make([]byte, n)
	for i := range p {
		out[i] = p[i] ^ key[i&3]
	}
	return out
}

func TestMQTTProtoFrames(t *testing.T) {
	sent := time.Now().Add(-3 * time.Millisecond).UnixNano()
	q0 := publishBytes(t, 0, 0, sent)
	q1a, q1b := publishBytes(t, 1, 7, sent), publishBytes(t, 1, 0x1234, sent)
	ping := []byte{packets.PINGRESP << 4, 0}
	for _, tc := range []struct {
		name   string
		ws     bool
		reads  [][]byte // what each read returns
		n      int
		acks   []byte // the PUBACKs written, unframed
		stream bool   // the reads end inside a packet
	}{
		{"tcp: QoS 0 and 1 in one read", false, [][]byte{append(append(append([]byte{}, q0...), q1a...), ping...)}, 2, []byte{0x40, 2, 0, 7}, false},
		{"tcp: a packet across reads", false, [][]byte{q1b[:5], q1b[5:]}, 1, []byte{0x40, 2, 0x12, 0x34}, false},
		{"ws: a packet per frame", true, [][]byte{append(serverFrame(q0), serverFrame(q1a)...)}, 2, []byte{0x40, 2, 0, 7}, false},
		{"ws: a packet across frames", true, [][]byte{append(serverFrame(q1b[:10]), serverFrame(q1b[10:])...)}, 1, []byte{0x40, 2, 0x12, 0x34}, false},
		{"ws: a frame across reads", true, [][]byte{serverFrame(q1a)[:7], serverFrame(q1a)[7:]}, 1, []byte{0x40, 2, 0, 7}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fds[0])
			defer syscall.Close(fds[1])
			mp := &mqttProto{ws: tc.ws, mask: [4]byte{1, 2, 3, 4}}
			var rest []byte
			var lat []int32
			n := 0
			for _, r := range tc.reads {
				b := append(rest, r...)
				used, dn, bad, ok := mp.frames(fds[0], b, time.Now().UnixNano(), &lat)
				assert.True(t, "ok", ok)
				assert.Equal(t, "bad", bad, 0)
				n += dn
				rest = append([]byte(nil), b[used:]...)
			}
			assert.Equal(t, "publishes", n, tc.n)
			assert.Equal(t, "latencies", len(lat), tc.n)
			for _, us := range lat {
				assert.True(t, "latency ≥ 3 ms", us >= 3000)
			}
			syscall.SetNonblock(fds[1], true)
			buf := make([]byte, 256)
			k, _ := syscall.Read(fds[1], buf)
			got := buf[:max(k, 0)]
			if tc.ws {
				got = unmask(t, got)
			}
			assert.Equal(t, "PUBACKs", got, tc.acks)
		})
	}
}

func TestMQTTProtoKeepAlive(t *testing.T) {
	assert.Equal(t, "tcp", (&mqttProto{}).keepAlive(), []byte{0xC0, 0})
	assert.Equal(t, "ws", unmask(t, (&mqttProto{ws: true, mask: [4]byte{9, 8, 7, 6}}).keepAlive()), []byte{0xC0, 0})
}

func TestMQTTSummary(t *testing.T) {
	const emu, mosq = "emulator", "mosquitto"
	flat, paced := mqttPhase{qos: 0}, mqttPhase{qos: 0, rate: 1}
	rest := mqttPhase{qos: 0, rest: true}
	full := func(rate float64, p99 time.Duration) mqttResult {
		return mqttResult{delivered: 100, expect: 100, rate: rate, p99: p99}
	}
	for _, tc := range []struct {
		name    string
		results map[string]mqttResult
		names   []string
		want    []string
	}{
		{"mosquitto not measured", map[string]mqttResult{
			emu + "|" + flat.name(): full(400_000, time.Millisecond), emu + "|" + rest.name(): full(200_000, time.Millisecond),
			emu + "|" + paced.name(): full(300_000, time.Millisecond),
		}, []string{emu}, []string{
			"QoS 0, MQTT publisher, flat out): 1.33× (400000/s): met",
			"QoS 0, REST sendToGroup, flat out): 0.67× (200000/s): MISSED",
			"deliveries/s: not measured",
			"p99: not measured",
		}},
		{"both measured", map[string]mqttResult{
			emu + "|" + flat.name(): full(400_000, time.Millisecond), mosq + "|" + flat.name(): full(500_000, time.Millisecond),
			emu + "|" + paced.name(): full(300_000, 2*time.Millisecond), mosq + "|" + paced.name(): full(300_000, 4*time.Millisecond),
		}, []string{emu, mosq}, []string{
			"REST sendToGroup, flat out): not measured",
			"deliveries/s: 0.80× (400000/s vs 500000/s): MISSED",
			"p99: 0.50× (2ms vs 4ms): met",
		}},
		{"deliveries lost", map[string]mqttResult{
			emu + "|" + flat.name():  {delivered: 99, expect: 100, rate: 900_000},
			mosq + "|" + flat.name(): full(100_000, time.Millisecond),
		}, []string{emu, mosq}, []string{
			"QoS 0, MQTT publisher, flat out): not met: deliveries lost (99 of 100)",
			"deliveries/s: not met: deliveries lost (99 of 100)",
		}},
		{"mosquitto's figures incomplete", map[string]mqttResult{
			emu + "|" + flat.name():  full(400_000, time.Millisecond),
			mosq + "|" + flat.name(): {delivered: 1, expect: 100, rate: 100},
		}, []string{emu, mosq}, []string{"deliveries/s: not measured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(mqttSummary(tc.results, tc.names), "\n")
			for _, w := range tc.want {
				assert.Contains(t, "summary", got, w)
			}
			if len(tc.names) < 2 {
				assert.True(t, "no mosquitto verdict says met", !strings.Contains(got, "mosquitto over TCP (QoS 0, MQTT publisher, flat out), deliveries/s: met"))
			}
		})
	}
}
