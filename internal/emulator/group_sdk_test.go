package emulator

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
)

type groupSeen struct {
	Step  string
	Group []struct {
		Group      string
		FromUserID *string
		DataType   string
		Data       any
	}
	Server                  []any
	Connected, Disconnected int
	Error                   string
}

// TestJSClientSDKGroupSends: a REST group send reaches Microsoft's
// @azure/web-pubsub-client as a group-message naming the group, with no
// fromUserId, for text, json and binary on both JSON subprotocols. On the
// reliable one, a 5,000-message group stream with the socket severed in the
// middle arrives whole: nothing lost, duplicated or reordered, the replayed
// messages still framed as group messages, and the recovery invisible.
func TestJSClientSDKGroupSends(t *testing.T) {
	for _, mode := range []string{"json", "reliable"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, Config{})
			js := startPeer(t, "emulator-client-group.js", e.ws+"/client/hubs/chat?access_token="+e.token("chat", "reader", "webpubsub.joinLeaveGroup"), mode)
			var ready struct{ Step, ConnectionID string }
			js.line(&ready)
			if ready.Step != "ready" || e.s.hub("chat").conn(ready.ConnectionID) == nil {
				t.Fatalf("peer: %+v", ready)
			}
			send := func(ct, body string) {
				t.Helper()
				if code, _, b := e.rest("POST", "/api/hubs/chat/groups/room/:send", ct, []byte(body)); code != 202 {
					t.Fatalf("group send: %d %s", code, b)
				}
			}
			seen := func(n int) groupSeen {
				t.Helper()
				fmt.Fprintln(js.in, n)
				var s groupSeen
				js.line(&s)
				if s.Step != "seen" {
					t.Fatalf("peer: %+v", s)
				}
				return s
			}
			send("text/plain", "hello")
			send("application/json", `{"a":1}`)
			send("application/octet-stream", "\x01\x02\x03")
			s := seen(3)
			var got []string
			for _, m := range s.Group {
				b, _ := json.Marshal(m.Data)
				got = append(got, fmt.Sprintf("%s/%v/%s/%s", m.Group, m.FromUserID, m.DataType, b))
			}
			want := []string{`room/<nil>/text/"hello"`, `room/<nil>/json/{"a":1}`, `room/<nil>/binary/"AQID"`}
			if fmt.Sprint(got) != fmt.Sprint(want) || len(s.Server) != 0 {
				t.Fatalf("group-message events:\n got %v\nwant %v (and no server-message: %v)", got, want, s.Server)
			}
			if mode != "reliable" {
				return
			}
			const n = 5000
			c := e.s.hub("chat").conn(ready.ConnectionID)
			for i := 1; i <= n; i++ {
				send("text/plain", strconv.Itoa(i))
				if i%250 == 0 {
					// Paced by the client's acknowledgements, as a sender
					// must be: 1000 unacknowledged messages end the session.
					eventually(t, "the client acknowledging", func() bool {
						c.omu.Lock()
						defer c.omu.Unlock()
						return len(c.unacked) < 500
					})
				}
				if i == n/2 && !e.s.DropSocket(ready.ConnectionID) {
					t.Fatal("no socket to drop")
				}
			}
			s = seen(n)
			if len(s.Group) != n {
				t.Fatalf("%d group messages after the drop, want %d", len(s.Group), n)
			}
			for i, m := range s.Group {
				if m.Group != "room" || m.FromUserID != nil || m.DataType != "text" || m.Data != strconv.Itoa(i+1) {
					t.Fatalf("message %d: %+v, want group room, text %d", i+1, m, i+1)
				}
			}
			if s.Connected != 1 || s.Disconnected != 0 {
				t.Fatalf("recovery not transparent: %d connected, %d disconnected", s.Connected, s.Disconnected)
			}
		})
	}
}
