package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// A healthy pair that must keep working while bad clients misbehave.
func healthyPair(t *testing.T, e *testEnv) (a, b *client) {
	a = e.connect("chat", "good-a", SubprotocolJSON, "webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")
	b = e.connect("chat", "good-b", SubprotocolJSON, "webpubsub.joinLeaveGroup")
	b.send(map[string]any{"type": "joinGroup", "group": "ok", "ackId": 1})
	wantAck(t, b.read(), 1, "")
	return a, b
}

func stillServing(t *testing.T, a, b *client, text string) {
	t.Helper()
	a.send(map[string]any{"type": "sendToGroup", "group": "ok", "noEcho": true, "dataType": "text", "data": text})
	if m := b.read(); m["data"] != text {
		t.Fatalf("healthy client got %v, want %q", m, text)
	}
}

func TestBadTokens(t *testing.T) {
	e := newEnv(t, Config{SecondaryKey: "second-key", Hubs: map[string]HubSettings{"open": {AllowAnonymous: true}}})
	a, b := healthyPair(t, e)
	expired := e.claims("chat", "u")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	noExp := e.claims("chat", "u")
	delete(noExp, "exp")
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims("chat", "u")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	twoUsers := e.claims("chat", "u")
	twoUsers["sub"] = []string{"alice", "bob"}
	for _, tc := range []struct {
		name, hub, token, want string
	}{
		{"no token", "chat", "", "does not allow anonymous"},
		{"wrong key", "chat", sign(t, e.claims("chat", "u"), "not-the-key"), "signature"},
		{"expired", "chat", sign(t, expired, DefaultAccessKey), "expired"},
		{"no exp", "chat", sign(t, noExp, DefaultAccessKey), "exp"},
		{"foreign hub", "chat", e.token("other", "u"), "audience"},
		{"alg none", "chat", none, "Unauthorized"},
		{"garbage", "chat", "abc.def.ghi", "malformed"},
		{"sub array", "chat", sign(t, twoUsers, DefaultAccessKey), "sub claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := e.dial(tc.hub, tc.token, SubprotocolJSON, "")
			if err == nil {
				t.Fatal("connected, want 401")
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), tc.want) {
				t.Fatalf("got %d %q, want 401 mentioning %q", resp.StatusCode, body, tc.want)
			}
			if tc.token != "" && strings.Contains(string(body), tc.token) {
				t.Fatal("the answer echoes the token")
			}
		})
	}
	// The secondary key works; the Authorization header works; anonymous where allowed.
	c, _, err := e.dial("chat", sign(t, e.claims("chat", "second"), "second-key"), "", "")
	if err != nil {
		t.Fatalf("secondary key: %v", err)
	}
	c.CloseNow()
	hdr := http.Header{"Authorization": {"Bearer " + e.token("chat", "hdr")}}
	c, _, err = websocket.Dial(context.Background(), e.ws+"/client/?hub=chat", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("bearer header on /client/?hub=: %v", err)
	}
	c.CloseNow()
	c, _, err = e.dial("open", "", "", "")
	if err != nil {
		t.Fatalf("anonymous on an open hub: %v", err)
	}
	c.CloseNow()
	stillServing(t, a, b, "after bad tokens")
}

func TestBadFrames(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := healthyPair(t, e)

	// Over 1 MB: closed with 1009.
	big := e.connect("chat", "big", SubprotocolJSON, "webpubsub.sendToGroup")
	huge := append([]byte(`{"type":"sendToGroup","group":"ok","dataType":"text","data":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	huge = append(huge, `"}`...)
	big.c.Write(context.Background(), websocket.MessageText, huge)
	if code, _ := big.closeStatus(); code != websocket.StatusMessageTooBig {
		t.Fatalf("oversize frame: close %v, want 1009", code)
	}
	b.noMessage(50 * time.Millisecond)
	// Exactly the limit is fine: a plain client's 1 MiB frame reaches the group.
	w, _, err := e.dial("chat", e.token("chat", "w", "webpubsub.sendToGroup.ok"), "", "webpubsub_mode=sendToGroup&group=ok")
	if err != nil {
		t.Fatal(err)
	}
	defer w.CloseNow()
	w.Write(context.Background(), websocket.MessageText, bytes.Repeat([]byte("z"), 1<<20))
	if m := b.read(); len(fmt.Sprint(m["data"])) != 1<<20 || m["fromUserId"] != "w" {
		t.Fatalf("a 1 MiB frame arrived as %d bytes from %v", len(fmt.Sprint(m["data"])), m["fromUserId"])
	}
	w.Close(websocket.StatusNormalClosure, "")

	// Malformed JSON: a disconnected system message with the reason, then close.
	bad := e.connect("chat", "bad", SubprotocolJSON)
	bad.sendRaw(websocket.MessageText, []byte(`{"type":"joinGroup",`))
	code, msgs := bad.closeStatus()
	if code != websocket.StatusInvalidFramePayloadData || len(msgs) != 1 || msgs[0]["event"] != "disconnected" ||
		!strings.Contains(fmt.Sprint(msgs[0]["message"]), "not a valid JSON") {
		t.Fatalf("malformed JSON: close %v after %v", code, msgs)
	}
	// A binary frame on a JSON protocol, and a message missing its group.
	for _, f := range []struct {
		typ  websocket.MessageType
		data string
	}{{websocket.MessageBinary, "\x00\x01"}, {websocket.MessageText, `{"type":"joinGroup","ackId":1}`}, {websocket.MessageText, `{"type":"sendToGroup","group":"g","dataType":"binary","data":"!!"}`}} {
		bad := e.connect("chat", "bad", SubprotocolJSONReliable)
		bad.sendRaw(f.typ, []byte(f.data))
		code, msgs := bad.closeStatus()
		if code != websocket.StatusPolicyViolation || len(msgs) == 0 || msgs[len(msgs)-1]["event"] != "disconnected" {
			t.Fatalf("%q: close %v after %v (a reliable session that ends closes with 1008)", f.data, code, msgs)
		}
	}
	stillServing(t, a, b, "after bad frames")
	eventually(t, "only the 2 healthy connections left", func() bool { return len(e.s.hub("chat").connections()) == 2 })
}

func TestFloods(t *testing.T) {
	// No pings: the client that never reads could not answer them, and on a
	// loaded machine a missed ping (ConnectionLost) can come before the
	// queue overflows (SlowClient), which is what this test is about.
	e := newEnv(t, Config{OutboundQueue: 32, KeepAlive: time.Hour})
	a, b := healthyPair(t, e)

	// A client that never reads is dropped as slow; the others get everything.
	slow, _, err := e.dial("chat", e.token("chat", "slow"), SubprotocolJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	eventually(t, "slow client registered", func() bool { return len(e.s.hub("chat").connections()) == 3 })
	payload := bytes.Repeat([]byte("y"), 32<<10)
	const n = 400 // 12.8 MB: more than the socket buffers hold
	done := make(chan int)
	go func() {
		got := 0
		for range n {
			if m := b.read(); m["from"] == "server" {
				got++
			}
		}
		done <- got
	}()
	for range n {
		if code, _, _ := e.rest("POST", "/api/hubs/chat/:send?excluded="+a.id, "text/plain", payload); code != 202 {
			t.Fatalf("send: %d", code)
		}
	}
	if got := <-done; got != n {
		t.Fatalf("healthy client got %d of %d", got, n)
	}
	eventually(t, "slow client dropped", func() bool { return len(e.s.hub("chat").connections()) == 2 })
	found := false
	var reasons []string
	for _, ev := range e.traceKinds(TraceDisconnected) {
		found = found || strings.HasPrefix(ev.Summary, "SlowClient")
		reasons = append(reasons, ev.Summary)
	}
	if !found {
		t.Fatalf("no SlowClient disconnect traced; disconnects: %q", reasons)
	}

	// A client flooding events with no handler is answered (InvocationFailed)
	// each time and the others keep being served.
	f := e.connect("chat", "flood", SubprotocolJSON)
	for i := range 300 {
		f.send(map[string]any{"type": "event", "event": "spam", "ackId": i, "dataType": "text", "data": "x"})
	}
	for i := range 300 {
		wantAck(t, f.read(), float64(i), "InvocationFailed")
	}
	stillServing(t, a, b, "after floods")
}

func TestRESTAuthAndErrors(t *testing.T) {
	e := newEnv(t, Config{SecondaryKey: "second-key"})
	u := e.base + "/api/hubs/chat/:send?api-version=2024-12-01"
	tok := func(aud, key string) string {
		return sign(t, jwt.MapClaims{"aud": aud, "exp": time.Now().Add(time.Minute).Unix()}, key)
	}
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"full URL", tok(u, DefaultAccessKey), 202},
		{"URL without query (the documented form)", tok(e.base+"/api/hubs/chat/:send", DefaultAccessKey), 202},
		{"secondary key", tok(u, "second-key"), 202},
		{"no token", "", 401},
		{"wrong key", tok(u, "wrong"), 401},
		{"other path", tok(e.base+"/api/hubs/other/:send", DefaultAccessKey), 401},
		{"other query", tok(e.base+"/api/hubs/chat/:send?api-version=2021-10-01", DefaultAccessKey), 401},
	} {
		code, h, body := e.restURL("POST", u, "text/plain", []byte("x"), tc.token)
		if code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.status)
		}
		if code == 401 {
			var eb restError
			if json.Unmarshal(body, &eb) != nil || eb.Code != codeUnauthorized || h.Get("x-ms-error-code") != codeUnauthorized {
				t.Errorf("%s: error body %s / header %q", tc.name, body, h.Get("x-ms-error-code"))
			}
		}
	}
	// Health needs no token.
	if code, _, _ := e.restURL("HEAD", e.base+"/api/health?api-version=2024-12-01", "", nil, ""); code != 200 {
		t.Errorf("health: %d", code)
	}
	for _, tc := range []struct {
		method, path, ct, body string
		status                 int
		code                   string
	}{
		{"POST", "/api/hubs/chat/:send?filter=" + urlq("userId eq"), "text/plain", "x", 400, codeBadRequest},
		{"POST", "/api/hubs/chat/:send", "application/json", "{not json", 400, codeBadRequest},
		{"POST", "/api/hubs/chat/:send?messageTtlSeconds=301", "text/plain", "x", 400, codeBadRequest},
		{"POST", "/api/hubs/chat/:send", "text/plain", strings.Repeat("z", maxRESTBody+1), 413, codeTooLarge},
		{"POST", "/api/hubs/1bad/:send", "text/plain", "x", 400, codeBadRequest},
		{"PUT", "/api/hubs/chat/groups/g/connections/missing", "", "", 404, codeConnNotExists},
		{"PUT", "/api/hubs/chat/permissions/sendToGroup/connections/missing", "", "", 404, codeConnNotExists},
		{"PUT", "/api/hubs/chat/permissions/fly/connections/missing", "", "", 400, codeBadRequest},
		{"POST", "/api/hubs/chat/groups/%20/:send", "text/plain", "x", 400, codeBadRequest},
		{"GET", "/api/hubs/chat/nothing", "", "", 404, codeNotFound},
		{"POST", "/api/hubs/chat/:addToGroups", "application/json", `{"groups":["g"],"extra":1}`, 400, codeBadRequest},
	} {
		code, h, body := e.rest(tc.method, tc.path, tc.ct, []byte(tc.body))
		if code != tc.status || h.Get("x-ms-error-code") != tc.code {
			t.Errorf("%s %s: %d %q %s, want %d %s", tc.method, tc.path, code, h.Get("x-ms-error-code"), body, tc.status, tc.code)
		}
	}
	// A missing api-version is a 400.
	code, _, _ := e.restURL("POST", e.base+"/api/hubs/chat/:send", "text/plain", []byte("x"), tok(e.base+"/api/hubs/chat/:send", DefaultAccessKey))
	if code != 400 {
		t.Errorf("no api-version: %d", code)
	}
}

func urlq(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, " ", "%20"), "'", "%27") }
