package main

// The fan-out clients' side of RFC 6455 that is not frame parsing: the
// opening handshake and masked control frames. The clients need raw sockets
// for epoll, so no WebSocket library fits here.

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsDial opens a WebSocket to rawURL (ws://) with a plain HTTP/1.1 upgrade
// from a socket bound to laddr, offering subprotocol when it is not empty.
// It returns the connection and any bytes that arrived after the handshake
// response.
func wsDial(ctx context.Context, rawURL string, laddr net.Addr, subprotocol string) (net.Conn, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if u.Scheme != "ws" {
		return nil, nil, fmt.Errorf("websocket dial: scheme %q, want ws", u.Scheme)
	}
	d := net.Dialer{LocalAddr: laddr}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	var k [16]byte
	crand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n"
	if subprotocol != "" {
		req += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("websocket dial: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) ||
		resp.Header.Get("Sec-WebSocket-Protocol") != subprotocol {
		nc.Close()
		return nil, nil, fmt.Errorf("websocket dial: handshake answered %s", resp.Status)
	}
	nc.SetDeadline(time.Time{})
	rest, _ := br.Peek(br.Buffered())
	return nc, slices.Clone(rest), nil
}

// wsControl is a masked control frame (clients mask, RFC 6455 §5.3).
func wsControl(op byte, payload []byte) []byte {
	if len(payload) > 125 {
		payload = payload[:125]
	}
	f := make([]byte, 0, 6+len(payload))
	var m [4]byte
	crand.Read(m[:])
	f = append(f, 0x80|op, 0x80|byte(len(payload)), m[0], m[1], m[2], m[3])
	for i, b := range payload {
		f = append(f, b^m[i%4])
	}
	return f
}

// Results of wsServerFrame.
const (
	frameWhole      = iota
	frameIncomplete // more bytes are needed
	frameBad        // masked, or over the 1 MB message limit
)

// wsServerFrame reads the server frame at the start of f: its opcode,
// payload and size (header included) when it is whole.
func wsServerFrame(f []byte) (op byte, payload []byte, size, state int) {
	if len(f) < 2 {
		return 0, nil, 0, frameIncomplete
	}
	if f[1]&0x80 != 0 {
		return 0, nil, 0, frameBad // servers do not mask
	}
	hl, pl := 2, int(f[1]&0x7f)
	switch pl {
	case 126:
		if len(f) < 4 {
			return 0, nil, 0, frameIncomplete
		}
		hl, pl = 4, int(f[2])<<8|int(f[3])
	case 127:
		if len(f) < 10 {
			return 0, nil, 0, frameIncomplete
		}
		v := binary.BigEndian.Uint64(f[2:10])
		if v > 1<<20+64 {
			return 0, nil, 0, frameBad
		}
		hl, pl = 10, int(v)
	}
	if len(f) < hl+pl {
		return 0, nil, 0, frameIncomplete
	}
	return f[0] & 0x0f, f[hl : hl+pl], hl + pl, frameWhole
}

// appendWSBinary appends payload as one masked binary frame (clients mask,
// RFC 6455 §5.3), with mask as its masking key.
func appendWSBinary(b []byte, payload []byte, mask [4]byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, 0x82, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x82, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x82, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i&3])
	}
	return b
}
