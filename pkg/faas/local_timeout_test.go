package faas

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeReadTimeout: on the local $PORT server a body trickled a byte at
// a time cannot hold a request: a handler reading it fails at readTimeout,
// and an early answer that leaves the body unread is not held back draining
// it for longer either.
func TestServeReadTimeout(t *testing.T) {
	defer func(d time.Duration) { readTimeout = d }(readTimeout)
	readTimeout = 800 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
			return
		}
		w.Write([]byte("read"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Function{Name: "slow", HTTP: h}) }()
	defer func() { cancel(); <-done }()

	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/read", http.StatusRequestTimeout, "i/o timeout"},
		{"/early", http.StatusUnauthorized, "no"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			io.WriteString(conn, "POST "+tc.path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(300 * time.Millisecond):
					}
					if _, err := conn.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if took := time.Since(start); resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) || took > 3*time.Second {
				t.Fatalf("%d %q after %v; want %d %q within about the %v read timeout", resp.StatusCode, b, took, tc.status, tc.body, readTimeout)
			}
		})
	}
}
