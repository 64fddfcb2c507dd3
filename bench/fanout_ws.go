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
// from a socket bound to laddr. It returns the connection and any bytes
// that arrived after the handshake response.
func wsDial(ctx context.Context, rawURL string, laddr net.Addr) (net.Conn, []byte, error) {
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
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
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
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
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
