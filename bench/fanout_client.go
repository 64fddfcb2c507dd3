package main

// The fan-out part's clients (run by the shared client process,
// clientproc.go): WebSocket connections that do the handshake themselves (a
// real HTTP/1.1 upgrade, Sec-WebSocket-Accept checked) and then parse RFC
// 6455 frames straight from the socket: each data frame is counted only
// after its send time has been found in it.

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"syscall"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// wsJSONProto reads a fan-out client's socket: server WebSocket frames
// whose data frames carry their send time as JSON.
type wsJSONProto struct{}

// frames parses the complete WebSocket frames at the start of b (see
// clientProto). Each data frame must carry {"t":<send time in ns>}; a close
// frame or a protocol error ends the connection.
func (wsJSONProto) frames(fd int, b []byte, now int64, lat *[]int32) (used, n, bad int, ok bool) {
	for {
		op, p, size, st := wsServerFrame(b[used:])
		if st != frameWhole {
			return used, n, bad, st == frameIncomplete
		}
		used += size
		switch op {
		case 0x1, 0x2: // text, binary (the emulator sends every message whole)
			i := bytes.Index(p, []byte(`"t":`))
			if i < 0 {
				bad++
				continue
			}
			var sent int64
			digits := 0
			for _, ch := range p[i+4:] {
				if ch < '0' || ch > '9' {
					break
				}
				sent = sent*10 + int64(ch-'0')
				digits++
			}
			if digits == 0 {
				bad++
				continue
			}
			us := (now - sent) / 1000
			if us > 1<<31-1 {
				us = 1<<31 - 1
			}
			*lat = append(*lat, int32(us))
			n++
		case 0x9: // ping
			if _, err := syscall.Write(fd, wsControl(0xA, p)); err != nil {
				return used, n, bad, false
			}
		case 0x8: // close: answer and end
			syscall.Write(fd, wsControl(0x8, p[:min(2, len(p))]))
			return used, n, bad, false
		}
	}
}

// fanoutClientMain is the client process of the fan-out part: "connect"
// connects every client through the service (a token each, in a group),
// "dial" connects every client to a baseline server's URL.
func fanoutClientMain() int {
	n := envInt("FANOUT_CLIENTS", 10_000, 1, 100_000)
	groups := envInt("FANOUT_GROUPS", 10, 1, 1000)
	return runClientProcess(n, func(ctx context.Context, m childMsg) (clientDial, bool, error) {
		var url func(i int) (string, error)
		switch m.Op {
		case "connect":
			client, err := wps.NewClientFromConnectionString(m.ConnStr, fanoutHub, nil)
			if err != nil {
				return nil, false, err
			}
			url = func(i int) (string, error) {
				acc, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{
					UserID: "u" + strconv.Itoa(i), Groups: []string{"g" + strconv.Itoa(i%groups)},
				})
				return acc.URL, err
			}
		case "dial":
			url = func(int) (string, error) { return m.URL, nil }
		default:
			return nil, false, nil
		}
		return func(ctx context.Context, i int, laddr net.Addr) (net.Conn, []byte, clientProto, error) {
			u, err := url(i)
			if err != nil {
				return nil, nil, nil, err
			}
			nc, first, err := wsDial(ctx, u, laddr, "")
			return nc, first, wsJSONProto{}, err
		}, true, nil
	})
}
