package connect_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/functions/internal/wpsrec"
	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// TestChatFlow runs one connection's life through both functions, carrying
// the connection state between events the way the service does: connect,
// connected, a chat message to a room the client joined by itself, and
// disconnected, which announces the leave to the group from the token and to
// that room, learnt from the message function's state alone.
func TestChatFlow(t *testing.T) {
	rec := wpsrec.New(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ch, err := connect.New(connect.Config{ConnectionString: rec.ConnectionString(), Hub: "chat", MaxGroups: 5,
		Roles: []string{"webpubsub.joinLeaveGroup"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mh, err := message.New(message.Config{ConnectionString: rec.ConnectionString(), Hub: "chat", Events: []string{"message"},
		MaxBytes: 4096, MaxTextRunes: 100, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cs, ms := httptest.NewServer(ch), httptest.NewServer(mh)
	defer cs.Close()
	defer ms.Close()
	ctx := context.Background()
	conn := cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c-42", UserID: "carol"}
	send := func(url string, ev cloudevents.Event) *cloudevents.Answer {
		t.Helper()
		a, err := (&upstream.Caller{Keys: cloudevents.NewKeys(wpsrec.AccessKey)}).Send(ctx, url, ev)
		if err != nil || !a.OK() {
			t.Fatalf("%T: %v %+v", ev, err, a)
		}
		return a
	}
	a := send(cs.URL, &cloudevents.ConnectRequest{ConnectionContext: conn, Claims: map[string][]string{"sub": {"carol"}, "webpubsub.group": {"news"}}})
	conn.RawState = a.NextState(conn.RawState)
	send(cs.URL, &cloudevents.ConnectedRequest{ConnectionContext: conn})
	a = send(ms.URL, &cloudevents.UserEventRequest{ConnectionContext: withEvent(conn, "message"), Data: []byte(`{"room":"lobby","text":"hi"}`), DataType: cloudevents.DataJSON})
	conn.RawState = a.NextState(conn.RawState)
	send(cs.URL, &cloudevents.DisconnectedRequest{ConnectionContext: conn, Reason: "bye"})

	got := rec.Requests()
	left := `{"type":"system","event":"left","user":"carol"}`
	want := []wpsrec.Request{
		{Path: "/api/hubs/chat/connections/c-42/:send", Body: `{"type":"system","text":"welcome carol"}`},
		{Path: "/api/hubs/chat/groups/lobby/:send"}, // the chat message; body checked below
		{Path: "/api/hubs/chat/groups/lobby/:send", Body: left},
		{Path: "/api/hubs/chat/groups/news/:send", Body: left},
	}
	if len(got) != len(want) {
		t.Fatalf("sent %+v", got)
	}
	for i, w := range want {
		if got[i].Path != w.Path || (w.Body != "" && got[i].Body != w.Body) || got[i].Method != "POST" || got[i].ContentType != "application/json" {
			t.Errorf("call %d: %+v, want %+v", i, got[i], w)
		}
	}
	if !strings.HasPrefix(got[1].Body, `{"type":"message","id":"`) || !strings.Contains(got[1].Body, `"room":"lobby","from":"carol","text":"hi","time":"`) {
		t.Errorf("chat message %s", got[1].Body)
	}
}

func withEvent(c cloudevents.ConnectionContext, name string) cloudevents.ConnectionContext {
	c.EventName = name
	return c
}
