package main

// The MQTT part's subscribers, in the shared client process
// (clientproc.go). Each connects and subscribes with paho.golang's packets
// codec (CONNECT, CONNACK, SUBSCRIBE, SUBACK, MQTT 5), blocking, and then
// hands its socket to an epoll poller that parses PUBLISH packets straight
// from it and answers QoS 1 with PUBACKs, one write per read. The same code
// reads the emulator (MQTT inside WebSocket binary frames) and mosquitto
// (MQTT on TCP): only the framing differs.

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

const (
	mqttChildEnv = "WPSFN_MQTT_CHILD"
	// The subscribers' topics: every subscriber is on both, at QoS 0 and 1.
	mqttTopicQoS0 = "bench0"
	mqttTopicQoS1 = "bench1"
)

// mqttProto reads one subscriber's socket.
type mqttProto struct {
	ws     bool    // MQTT inside WebSocket binary frames (else raw TCP)
	mask   [4]byte // the client's masking key (ws)
	stream []byte  // ws: an MQTT packet split across frames
	acks   []byte  // PUBACKs to write after this read
	out    []byte
}

// frames parses what arrived (see clientProto): WebSocket frames first when
// ws, then MQTT packets.
func (mp *mqttProto) frames(fd int, b []byte, now int64, lat *[]int32) (used, n, bad int, ok bool) {
	mp.acks = mp.acks[:0]
	if !mp.ws {
		used, n, bad, ok = mp.packets(b, now, lat)
	} else {
		ok = true
		for ok {
			op, p, size, st := wsServerFrame(b[used:])
			if st != frameWhole {
				ok = st == frameIncomplete
				break
			}
			used += size
			switch op {
			case 0x0, 0x2: // binary (and its continuations): the MQTT stream
				var dn, dbad int
				if len(mp.stream) == 0 {
					var u int
					u, dn, dbad, ok = mp.packets(p, now, lat)
					mp.stream = append(mp.stream, p[u:]...)
				} else {
					mp.stream = append(mp.stream, p...)
					var u int
					u, dn, dbad, ok = mp.packets(mp.stream, now, lat)
					mp.stream = mp.stream[:copy(mp.stream, mp.stream[u:])]
				}
				n, bad = n+dn, bad+dbad
			case 0x9: // ping
				if _, err := syscall.Write(fd, wsControl(0xA, p)); err != nil {
					ok = false
				}
			case 0x8: // close: answer and end
				syscall.Write(fd, wsControl(0x8, p[:min(2, len(p))]))
				ok = false
			case 0x1:
				ok = false // MQTT over WebSocket is binary only
			}
		}
	}
	if len(mp.acks) > 0 && ok {
		w := mp.acks
		if mp.ws {
			mp.out = appendWSBinary(mp.out[:0], mp.acks, mp.mask)
			w = mp.out
		}
		if writeAll(fd, w) != nil {
			ok = false
		}
	}
	return used, n, bad, ok
}

// packets parses the complete MQTT 5 packets at the start of b. A PUBLISH
// must carry its send time (ns, big-endian) in its payload's first 8 bytes;
// QoS 1 ones are acknowledged (queued in acks).
func (mp *mqttProto) packets(b []byte, now int64, lat *[]int32) (used, n, bad int, ok bool) {
	for {
		f := b[used:]
		if len(f) < 2 {
			return used, n, bad, true
		}
		rl, hl := 0, 1
		for shift := 0; ; shift += 7 {
			if hl >= len(f) {
				return used, n, bad, true
			}
			if hl > 4 {
				return used, n, bad, false // malformed remaining length
			}
			c := f[hl]
			hl++
			rl |= int(c&0x7f) << shift
			if c&0x80 == 0 {
				break
			}
		}
		if len(f) < hl+rl {
			return used, n, bad, true
		}
		p := f[hl : hl+rl]
		used += hl + rl
		switch f[0] >> 4 {
		case packets.PUBLISH:
			qos := (f[0] >> 1) & 3
			if len(p) < 2 {
				return used, n, bad, false
			}
			off := 2 + int(binary.BigEndian.Uint16(p))
			if qos > 0 {
				if len(p) < off+2 {
					return used, n, bad, false
				}
				if qos == 1 {
					mp.acks = append(mp.acks, packets.PUBACK<<4, 2, p[off], p[off+1])
				}
				off += 2
			}
			pl, k := 0, 0 // the properties' length (a variable byte integer)
			for shift := 0; ; shift += 7 {
				if off+k >= len(p) || k > 3 {
					return used, n, bad, false
				}
				c := p[off+k]
				k++
				pl |= int(c&0x7f) << shift
				if c&0x80 == 0 {
					break
				}
			}
			off += k + pl
			if qos == 2 || off+8 > len(p) {
				bad++
				continue
			}
			us := (now - int64(binary.BigEndian.Uint64(p[off:]))) / 1000
			us = min(max(us, 0), 1<<31-1)
			*lat = append(*lat, int32(us))
			n++
		case packets.DISCONNECT:
			return used, n, bad, false
		}
	}
}

// keepAlive is PINGREQ, framed as the socket needs.
func (mp *mqttProto) keepAlive() []byte {
	ping := []byte{packets.PINGREQ << 4, 0}
	if mp.ws {
		return appendWSBinary(nil, ping, mp.mask)
	}
	return ping
}

// writeAll writes b to the non-blocking fd, waiting briefly when the socket
// is full (acknowledgements must not be cut: the stream would be corrupt).
func writeAll(fd int, b []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(b) > 0 {
		k, err := syscall.Write(fd, b)
		if k > 0 {
			b = b[k:]
		}
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			if time.Now().After(deadline) {
				return err
			}
			time.Sleep(100 * time.Microsecond)
		case err != nil:
			return err
		}
	}
	return nil
}

// wsPayloads reads the payloads of a socket's server WebSocket frames as
// one stream, blocking (for the handshake, before the poller takes over).
type wsPayloads struct {
	br   *bufio.Reader
	mask [4]byte
	nc   net.Conn
	left []byte
}

func (r *wsPayloads) Read(p []byte) (int, error) {
	for len(r.left) == 0 {
		var h [2]byte
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			return 0, err
		}
		if h[1]&0x80 != 0 {
			return 0, errors.New("a masked server frame")
		}
		pl := int(h[1] & 0x7f)
		switch pl {
		case 126:
			var x [2]byte
			if _, err := io.ReadFull(r.br, x[:]); err != nil {
				return 0, err
			}
			pl = int(binary.BigEndian.Uint16(x[:]))
		case 127:
			var x [8]byte
			if _, err := io.ReadFull(r.br, x[:]); err != nil {
				return 0, err
			}
			if v := binary.BigEndian.Uint64(x[:]); v > 1<<20 {
				return 0, errors.New("a server frame over 1 MB")
			} else {
				pl = int(v)
			}
		}
		body := make([]byte, pl)
		if _, err := io.ReadFull(r.br, body); err != nil {
			return 0, err
		}
		switch h[0] & 0x0f {
		case 0x0, 0x2:
			r.left = body
		case 0x9:
			r.nc.Write(wsControl(0xA, body))
		case 0x8:
			return 0, fmt.Errorf("the server closed the WebSocket: %q", body[min(2, len(body)):])
		default:
			return 0, errors.New("a text frame on an MQTT WebSocket")
		}
	}
	n := copy(p, r.left)
	r.left = r.left[n:]
	return n, nil
}

// mqttSubscriber connects client i to rawURL (ws://… for the emulator,
// tcp://host:port for mosquitto), subscribes it to both topics and returns
// its socket for the poller.
func mqttSubscriber(ctx context.Context, rawURL string, i int, laddr net.Addr) (net.Conn, []byte, clientProto, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, err
	}
	mp := &mqttProto{ws: u.Scheme == "ws"}
	var nc net.Conn
	var first []byte
	if mp.ws {
		nc, first, err = wsDial(ctx, rawURL, laddr, "mqtt")
		crand.Read(mp.mask[:])
	} else {
		d := net.Dialer{LocalAddr: laddr}
		nc, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(first), nc), 1024)
	var in io.Reader = br
	ws := &wsPayloads{br: br, mask: mp.mask, nc: nc}
	if mp.ws {
		in = ws
	}
	send := func(pk interface {
		WriteTo(io.Writer) (int64, error)
	}) error {
		var b bytes.Buffer
		if _, err := pk.WriteTo(&b); err != nil {
			return err
		}
		out := b.Bytes()
		if mp.ws {
			out = appendWSBinary(nil, out, mp.mask)
		}
		_, err := nc.Write(out)
		return err
	}
	fail := func(err error) (net.Conn, []byte, clientProto, error) {
		nc.Close()
		return nil, nil, nil, err
	}
	connect := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: "sub" + strconv.Itoa(i),
		KeepAlive: uint16(3 * clientKeepAlive / time.Second), CleanStart: true, Properties: &packets.Properties{}}
	if err := send(connect); err != nil {
		return fail(err)
	}
	cp, err := packets.ReadPacket(in)
	if err != nil {
		return fail(fmt.Errorf("CONNACK: %w", err))
	}
	if ack, ok := cp.Content.(*packets.Connack); !ok || ack.ReasonCode != 0 {
		return fail(fmt.Errorf("CONNECT refused: %v", cp))
	}
	sub := &packets.Subscribe{PacketID: 1, Properties: &packets.Properties{}, Subscriptions: []packets.SubOptions{
		{Topic: mqttTopicQoS0, QoS: 0}, {Topic: mqttTopicQoS1, QoS: 1}}}
	if err := send(sub); err != nil {
		return fail(err)
	}
	cp, err = packets.ReadPacket(in)
	if err != nil {
		return fail(fmt.Errorf("SUBACK: %w", err))
	}
	if ack, ok := cp.Content.(*packets.Suback); !ok || !bytes.Equal(ack.Reasons, []byte{0, 1}) {
		return fail(fmt.Errorf("SUBSCRIBE answered %v", cp))
	}
	nc.SetDeadline(time.Time{})
	// What was read beyond the SUBACK belongs to the poller now.
	rest, _ := br.Peek(br.Buffered())
	mp.stream = append(mp.stream, ws.left...)
	return nc, bytes.Clone(rest), mp, nil
}

// mqttClientMain is the MQTT part's client process: "dial" connects every
// subscriber to m.URL.
func mqttClientMain() int {
	n := envInt("MQTT_SUBSCRIBERS", 10_000, 1, 100_000)
	return runClientProcess(n, func(ctx context.Context, m childMsg) (clientDial, bool, error) {
		if m.Op != "dial" {
			return nil, false, nil
		}
		return func(ctx context.Context, i int, laddr net.Addr) (net.Conn, []byte, clientProto, error) {
			return mqttSubscriber(ctx, m.URL, i, laddr)
		}, true, nil
	})
}
