package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/wpsfn/wpsfn/internal/nodetest"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

type seen struct {
	Connected []struct {
		ConnectionID string `json:"connectionId"`
		UserID       string `json:"userId"`
	} `json:"connected"`
	Disconnected int `json:"disconnected"`
	Group        []struct {
		Group, From, DataType string
		Data                  any
	} `json:"group"`
	Server []struct {
		DataType string
		Data     any
	} `json:"server"`
}

// TestJSClientSDK runs Microsoft's @azure/web-pubsub-client 1.1.0 against
// the emulator with both JSON subprotocols: join, leave, send to group with
// and without echo, events with their replies, ack errors, and for the
// reliable protocol a severed socket and recovery with nothing lost or
// duplicated.
func TestJSClientSDK(t *testing.T) {
	nodetest.Require(t)
	echo := &cloudevents.Handler{
		Hub: "chat", Keys: cloudevents.NewKeys(DefaultAccessKey),
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			return &cloudevents.UserEventResponse{Data: append([]byte("echo:"), req.Data...), DataType: cloudevents.DataText}, nil
		},
	}
	if err := echo.Validate(); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(echo)
	defer up.Close()
	for _, mode := range []string{"json", "reliable"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, Config{Hubs: map[string]HubSettings{"chat": {EventHandlers: []EventHandler{{URLTemplate: up.URL + "/{event}", UserEvents: "echo"}}}}})
			url := func(user string, roles ...string) string {
				return e.ws + "/client/hubs/chat?access_token=" + e.token("chat", user, roles...)
			}
			js := startPeer(t, "emulator-client.js",
				url("alice", "webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.room"), url("bob", "webpubsub.joinLeaveGroup"), mode)
			step := func(want string) map[string]json.RawMessage {
				t.Helper()
				var m map[string]json.RawMessage
				js.line(&m)
				var s string
				json.Unmarshal(m["step"], &s)
				if s != want {
					t.Fatalf("step %s, want %s: %s", s, want, m["error"])
				}
				return m
			}
			conn := step("connected")
			var a, b struct{ ConnectionID, UserID string }
			json.Unmarshal(conn["a"], &a)
			json.Unmarshal(conn["b"], &b)
			if a.UserID != "alice" || b.UserID != "bob" || e.s.hub("chat").conn(a.ConnectionID) == nil {
				t.Fatalf("connected: %+v %+v", a, b)
			}

			g := step("groups")
			var sa, sb seen
			json.Unmarshal(g["a"], &sa)
			json.Unmarshal(g["b"], &sb)
			var got []string
			for _, m := range sb.Group {
				got = append(got, fmt.Sprintf("%s/%s/%s/%v", m.Group, m.From, m.DataType, m.Data))
			}
			want := []string{
				"room/alice/json/map[n:1]", "room/alice/json/map[n:2]", "room/alice/json/map[n:3]",
				"room/alice/json/map[n:4]", "room/alice/json/map[n:5]", "room/alice/text/quiet",
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("bob's group messages:\n got %v\nwant %v (nothing after leaving)", got, want)
			}
			if len(sa.Group) != 6 || fmt.Sprint(sa.Group[5].Data) != "after-leave" { // 5 echoes + after-leave, not "quiet"
				t.Fatalf("alice's group messages: %+v", sa.Group)
			}
			if len(sa.Server) != 1 || sa.Server[0].Data != "echo:hi" || sa.Server[0].DataType != "text" {
				t.Fatalf("alice's server messages: %+v", sa.Server)
			}
			var forbidden, invocation string
			json.Unmarshal(g["forbidden"], &forbidden)
			json.Unmarshal(g["invocation"], &invocation)
			if forbidden != "Forbidden" || invocation != "InvocationFailed" {
				t.Fatalf("ack errors: %q, %q", forbidden, invocation)
			}

			if mode == "reliable" {
				r := step("ready")
				var id string
				json.Unmarshal(r["b"], &id)
				c := e.s.hub("chat").conn(id)
				send := func(from, to int) {
					for i := from; i <= to; i++ {
						if code, _, _ := e.rest("POST", "/api/hubs/chat/connections/"+id+"/:send", "text/plain", fmt.Appendf(nil, "%d", i)); code != 202 {
							t.Fatalf("send %d: %d", i, code)
						}
					}
				}
				send(1, 10)
				c.omu.Lock()
				old := c.sock
				c.omu.Unlock()
				if !e.s.DropSocket(id) {
					t.Fatal("no socket to drop")
				}
				send(11, 20) // while the client notices and recovers
				eventually(t, "client recovered on a new socket", func() bool {
					c.omu.Lock()
					defer c.omu.Unlock()
					return c.sock != nil && c.sock != old
				})
				send(21, 30)
				js.in.Write([]byte("30\n"))
				rec := step("recovered")
				var received []string
				var connected []any
				var disconnected int
				json.Unmarshal(rec["received"], &received)
				json.Unmarshal(rec["connected"], &connected)
				json.Unmarshal(rec["disconnected"], &disconnected)
				var wantRecv []string
				for i := 1; i <= 30; i++ {
					wantRecv = append(wantRecv, fmt.Sprint(i))
				}
				if fmt.Sprint(received) != fmt.Sprint(wantRecv) {
					t.Fatalf("after the drop bob received\n %v\nwant\n %v", received, wantRecv)
				}
				if len(connected) != 1 || disconnected != 0 {
					t.Fatalf("recovery was not transparent: %d connected, %d disconnected events", len(connected), disconnected)
				}
				var opens []string
				for _, ev := range e.traceKinds(TraceConnected) {
					if ev.ConnectionID == id {
						opens = append(opens, ev.Summary)
					}
				}
				if fmt.Sprint(opens) != fmt.Sprint([]string{"connected " + SubprotocolJSONReliable, "recovered " + SubprotocolJSONReliable}) {
					t.Fatalf("connection %s opened as %q, want connected then recovered", id, opens)
				}
			}
			step("done")
		})
	}
}

// TestWSPlainClients uses the `ws` npm package as plain WebSocket clients:
// sendToGroup mode, the "message" event with its reply, and the 1 MB limit.
func TestWSPlainClients(t *testing.T) {
	nodetest.Require(t)
	echo := &cloudevents.Handler{
		Hub: "chat", Keys: cloudevents.NewKeys(DefaultAccessKey),
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			return &cloudevents.UserEventResponse{Data: append([]byte("echo:"), req.Data...), DataType: cloudevents.DataText}, nil
		},
	}
	if err := echo.Validate(); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(echo)
	defer up.Close()
	e := newEnv(t, Config{Hubs: map[string]HubSettings{"chat": {EventHandlers: []EventHandler{{URLTemplate: up.URL + "/{event}", UserEvents: "message"}}}}})
	withGroup := e.claims("chat", "reader")
	withGroup["webpubsub.group"] = []string{"g"}
	base := e.ws + "/client/hubs/chat?access_token="
	out := nodetest.Run(context.Background(), t, nil, "emulator-ws.js",
		base+sign(t, withGroup, DefaultAccessKey),
		base+e.token("chat", "writer", "webpubsub.sendToGroup.g")+"&webpubsub_mode=sendToGroup&group=g",
		base+e.token("chat", "eventer"),
		base+e.token("chat", "big"))
	var r struct {
		Text, Binary, Echo, After struct {
			Binary bool
			Text   string
		}
		BigClose int
		Refused  string
		Error    string
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Error != "" {
		t.Fatalf("report %s: %v", out, err)
	}
	if r.Text.Binary || r.Text.Text != "hello group" || !r.Binary.Binary || r.Binary.Text != "AQID" ||
		r.Echo.Text != "echo:ping" || r.After.Text != "still here" {
		t.Fatalf("report: %+v", r)
	}
	if r.BigClose != 1009 {
		t.Fatalf("a frame over 1 MB closed with %d, want 1009", r.BigClose)
	}
	if r.Refused != "HTTP 401" {
		t.Fatalf("a bad token: %q, want HTTP 401", r.Refused)
	}
}
