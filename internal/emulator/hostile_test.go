package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// wantRESTError checks a refusal: status, content type, x-ms-error-code and
// the exact flat body.
func wantRESTError(t *testing.T, status int, h http.Header, body []byte, wantStatus int, wantCT, code, target, msg string) {
	t.Helper()
	want, _ := json.Marshal(map[string]any{"code": code, "message": msg, "target": target, "details": nil, "innererror": nil})
	var got, w any
	json.Unmarshal(body, &got)
	json.Unmarshal(want, &w)
	if status != wantStatus || h.Get("Content-Type") != wantCT || h.Get("x-ms-error-code") != code || fmt.Sprint(got) != fmt.Sprint(w) {
		t.Fatalf("answer %d %q x-ms-error-code %q\n%s\nwant %d %q %q\n%s", status, h.Get("Content-Type"), h.Get("x-ms-error-code"), body, wantStatus, wantCT, code, want)
	}
}

func TestRESTBogusAPIVersion(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct{ name, query, msg string }{
		{"unknown", "api-version=2099-01-01", `The api-version "2099-01-01" is not supported; supported versions: 2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01.`},
		{"preview", "api-version=2021-08-01-preview", `The api-version "2021-08-01-preview" is not supported; supported versions: 2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01.`},
		{"twice", "api-version=2024-12-01&api-version=2024-12-01", "The api-version query parameter must be given once."},
		{"missing", "", "The api-version query parameter is required."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := e.base + "/api/hubs/chat/:send?" + tc.query
			code, h, b := e.restURL("POST", u, "text/plain", []byte("x"), sign(t, jwt.MapClaims{"aud": u, "exp": time.Now().Add(time.Hour).Unix()}, DefaultAccessKey))
			wantRESTError(t, code, h, b, 400, "application/json; charset=utf-8", codeBadRequest, "api-version", tc.msg)
			if h.Get("api-supported-versions") != "2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01" {
				t.Errorf("api-supported-versions = %q", h.Get("api-supported-versions"))
			}
		})
	}
	for _, v := range []string{"2021-10-01", "2024-12-01"} {
		if code, _, b := e.rest("POST", "/api/hubs/chat/:send?api-version="+v, "text/plain", []byte("x")); code != 202 {
			t.Errorf("api-version %s: %d %s", v, code, b)
		}
	}
}

func TestGenerateTokenMinutesToExpire(t *testing.T) {
	e := newEnv(t, Config{})
	for _, v := range []string{"9223372036854775807", "2147483648", "0", "-5", "1.5", "x"} {
		t.Run(v, func(t *testing.T) {
			code, h, b := e.rest("POST", "/api/hubs/chat/:generateToken?minutesToExpire="+v, "", nil)
			wantRESTError(t, code, h, b, 400, "application/json; charset=utf-8", codeBadRequest, "minutesToExpire", "minutesToExpire must be an integer from 1 to 2147483647.")
		})
	}
	code, _, b := e.rest("POST", "/api/hubs/chat/:generateToken?minutesToExpire=2147483647", "", nil)
	var tok struct{ Token string }
	if code != 200 || json.Unmarshal(b, &tok) != nil {
		t.Fatalf("the largest minutesToExpire: %d %s", code, b)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok.Token, claims); err != nil {
		t.Fatal(err)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 2147483647*60 {
		t.Fatalf("exp - iat = %v s, want %d", exp-iat, int64(2147483647)*60)
	}
}

// trickle sends a request whose body arrives one byte every gap and
// returns the answer's status line, headers and body, and when it came.
func trickle(t *testing.T, addr, head string, n int, gap time.Duration) (*http.Response, []byte, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range n {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	took := time.Since(start)
	b, _ := io.ReadAll(resp.Body)
	return resp, b, took
}

// TestRESTSlowBody: a body trickled a byte at a time is cut off after
// ReadTimeout with a 408; a refusal that needs no body (401) is answered at
// once, without waiting for the body, and the connection closed.
func TestRESTSlowBody(t *testing.T) {
	e := newEnv(t, Config{ReadTimeout: time.Second})
	addr := strings.TrimPrefix(e.base, "http://")
	path := "/api/hubs/chat/:send?api-version=2024-12-01"
	tok := sign(t, jwt.MapClaims{"aud": e.base + path, "exp": time.Now().Add(time.Hour).Unix()}, DefaultAccessKey)
	req := func(auth string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + auth + "Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
	}

	resp, b, took := trickle(t, addr, req("Authorization: Bearer "+tok+"\r\n"), 100, 400*time.Millisecond)
	wantRESTError(t, resp.StatusCode, resp.Header, b, 408, "application/json; charset=utf-8", "Error.RequestTimeout", "Request", "The request body did not arrive within 1s.")
	if took > 3*time.Second || !resp.Close {
		t.Fatalf("the 408 came after %v (connection close %v); want about the 1s read timeout, then close", took, resp.Close)
	}

	resp, b, took = trickle(t, addr, req(""), 100, 400*time.Millisecond)
	wantRESTError(t, resp.StatusCode, resp.Header, b, 401, "application/json; charset=utf-8", codeUnauthorized, "Request", "Unauthorized: no access token.")
	if took > 500*time.Millisecond || !resp.Close {
		t.Fatalf("the 401 came after %v (connection close %v); want at once, then close", took, resp.Close)
	}
}

func TestRESTTextNotUTF8(t *testing.T) {
	e := newEnv(t, Config{})
	cl := e.connect("chat", "u", SubprotocolJSON)
	code, h, b := e.rest("POST", "/api/hubs/chat/:send", "text/plain; charset=utf-8", []byte("ok \xff\xfe"))
	wantRESTError(t, code, h, b, 400, "application/json; charset=utf-8", codeBadRequest, "Request", "The body is not valid UTF-8 but the Content-Type says text.")
	cl.noMessage(50 * time.Millisecond)
	// The same bytes as binary are fine.
	if code, _, b := e.rest("POST", "/api/hubs/chat/:send", "application/octet-stream", []byte("ok \xff\xfe")); code != 202 {
		t.Fatalf("binary: %d %s", code, b)
	}
	if m := cl.read(); m["dataType"] != "binary" || m["data"] != "b2sg//4=" {
		t.Fatalf("got %v", m)
	}
}

// TestClientInvalidUTF8: a text frame that is not UTF-8 closes its sender
// with 1007 (RFC 6455 §8.1) and reaches nobody.
func TestClientInvalidUTF8(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := healthyPair(t, e)
	for _, tc := range []struct{ name, sub, extra string }{
		{"plain sendToGroup", "", "webpubsub_mode=sendToGroup&group=ok"},
		{"plain event", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := e.dial("chat", e.token("chat", "w", "webpubsub.sendToGroup"), tc.sub, tc.extra)
			if err != nil {
				t.Fatal(err)
			}
			cl := newClient(t, c)
			cl.sendRaw(websocket.MessageText, []byte("\xff\xfe"))
			var ce websocket.CloseError
			code, _ := cl.closeStatus()
			if code != websocket.StatusInvalidFramePayloadData || !asCloseError(cl.err, &ce) || ce.Reason != "InvalidPayload: a text frame is not valid UTF-8." {
				t.Fatalf("close %v %q, want 1007 InvalidPayload", code, ce.Reason)
			}
		})
	}
	// A JSON client is told why first.
	j := e.connect("chat", "j", SubprotocolJSON)
	j.sendRaw(websocket.MessageText, []byte(`{"type":"sendToGroup","group":"ok","dataType":"text","data":"`+"\xff\xfe"+`"}`))
	code, msgs := j.closeStatus()
	if code != websocket.StatusInvalidFramePayloadData || len(msgs) != 1 || msgs[0]["event"] != "disconnected" || msgs[0]["message"] != "InvalidPayload: a text frame is not valid UTF-8." {
		t.Fatalf("JSON client: close %v after %v", code, msgs)
	}
	b.noMessage(50 * time.Millisecond)
	stillServing(t, a, b, "after invalid UTF-8")
}

// TestJSONNullFrame: null and {} are malformed messages like any other.
func TestJSONNullFrame(t *testing.T) {
	e := newEnv(t, Config{})
	for _, frame := range []string{"null", " null ", "{}", `{"group":"g"}`} {
		t.Run(frame, func(t *testing.T) {
			cl := e.connect("chat", "u", SubprotocolJSON)
			cl.sendRaw(websocket.MessageText, []byte(frame))
			code, msgs := cl.closeStatus()
			if code != websocket.StatusInvalidFramePayloadData || len(msgs) != 1 || msgs[0]["event"] != "disconnected" ||
				msgs[0]["message"] != "InvalidMessage: the frame is not a valid JSON message." {
				t.Fatalf("%q: close %v after %v, want 1007 with the reason", frame, code, msgs)
			}
		})
	}
}

// TestSlowClientBytes: a client that reads nothing while large messages are
// sent to it is dropped once OutboundQueueBytes wait for it, well before the
// message count limit, and the queue does not grow the heap past that.
func TestSlowClientBytes(t *testing.T) {
	e := newEnv(t, Config{OutboundQueueBytes: 8 << 20})
	a, b := healthyPair(t, e)
	slow, _, err := e.dial("chat", e.token("chat", "slow"), SubprotocolJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	eventually(t, "slow client registered", func() bool { return len(e.s.hub("chat").connections()) == 3 })
	var id string
	for _, c := range e.s.hub("chat").connections() {
		if c.userID == "slow" {
			id = c.id
		}
	}
	heap := heapInuse()
	payload := bytes.Repeat([]byte("y"), 1<<20)
	var peak uint64
	for i := range 100 {
		if code, _, b := e.rest("POST", "/api/hubs/chat/connections/"+id+"/:send", "text/plain", payload); code != 202 {
			t.Fatalf("send %d: %d %s", i, code, b)
		}
		if i%10 == 9 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	eventually(t, "slow client dropped", func() bool { return e.s.hub("chat").conn(id) == nil })
	var reasons []string
	for _, ev := range e.traceKinds(TraceDisconnected) {
		if ev.ConnectionID == id {
			reasons = append(reasons, ev.Summary)
		}
	}
	if fmt.Sprint(reasons) != "[SlowClient: too many messages or bytes are waiting for the client.]" {
		t.Fatalf("slow client's end: %q", reasons)
	}
	// The client sees its connection cut (no close frame could reach it
	// behind the data it did not read).
	cl := newClient(t, slow)
	for range cl.frames {
	}
	if code := websocket.CloseStatus(cl.err); code != -1 {
		t.Fatalf("slow client: close %v, want the connection cut", code)
	}
	// 100 MiB were sent; the queue holds 8, the socket buffers a few more.
	if grew := int64(peak) - int64(heap); grew > 48<<20 {
		t.Fatalf("heap grew %d MiB while 100 MiB were sent to a client that reads nothing", grew>>20)
	}
	stillServing(t, a, b, "after the slow client")
	_ = context.Background
}
