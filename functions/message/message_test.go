package message

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/wpsrec"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

var stamp = time.Date(2026, 11, 27, 4, 5, 6, 789e6, time.UTC)

type fixture struct {
	url  string
	rec  *wpsrec.Recorder
	logs *bytes.Buffer
}

func newMessage(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	rec := wpsrec.New(t)
	logs := &bytes.Buffer{}
	cfg, err := LoadConfigFrom(map[string]string{"WEBPUBSUB_CONNECTION_STRING": rec.ConnectionString(), "WEBPUBSUB_HUB": "chat"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.Now = func() time.Time { return stamp }
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL + "/api/message", rec: rec, logs: logs}
}

// event sends a user event the way the service does: signed with the key.
func (f *fixture) event(t *testing.T, ev *cloudevents.UserEventRequest) *cloudevents.Answer {
	t.Helper()
	if ev.Hub == "" {
		ev.Hub = "chat"
	}
	if ev.ConnectionID == "" {
		ev.ConnectionID = "conn-1"
	}
	a, err := (&upstream.Caller{Keys: cloudevents.NewKeys(wpsrec.AccessKey)}).Send(context.Background(), f.url, ev)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func chat(user, data string) *cloudevents.UserEventRequest {
	return &cloudevents.UserEventRequest{
		ConnectionContext: cloudevents.ConnectionContext{UserID: user, EventName: "message"},
		Data:              []byte(data),
		DataType:          cloudevents.DataJSON,
	}
}

func TestMessagePublishes(t *testing.T) {
	f := newMessage(t, nil)
	a := f.event(t, chat("alice", `{"room":"lobby","text":"hi <all> & \"you\""}`))
	if a.Status != http.StatusOK || !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer %d %s %q", a.Status, a.Header, a.Body)
	}
	var ack Ack
	if err := json.Unmarshal(a.Body, &ack); err != nil || !ack.OK || ack.ID == "" {
		t.Fatalf("ack %q: %v", a.Body, err)
	}
	sent := f.rec.Requests()
	if len(sent) != 1 {
		t.Fatalf("sent %+v", sent)
	}
	want := wpsrec.Request{Method: "POST", Path: "/api/hubs/chat/groups/lobby/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json",
		Body: `{"type":"message","id":"` + ack.ID + `","room":"lobby","from":"alice","text":"hi <all> & \"you\"","time":"2026-11-27T04:05:06.789Z"}`}
	if sent[0] != want {
		t.Fatalf("sent %+v\nwant %+v", sent[0], want)
	}
	// The room is remembered in the connection state for the connect function.
	raw, ok := a.State()
	st, err := cloudevents.DecodeState(raw)
	var groups []string
	if !ok || err != nil {
		t.Fatalf("state %q %v %v", raw, ok, err)
	}
	if _, err := st.Get(StateGroups, &groups); err != nil || len(groups) != 1 || groups[0] != "lobby" {
		t.Fatalf("state groups %v %v", groups, err)
	}
	// A second message to the same room keeps the state; another room adds to it.
	ev := chat("alice", `{"room":"random","text":"second"}`)
	ev.RawState = raw
	ev.DataType, ev.ContentType = cloudevents.DataText, "text/plain" // JSON sent as text is accepted
	a = f.event(t, ev)
	raw2, _ := a.State()
	st, _ = cloudevents.DecodeState(raw2)
	groups = nil
	st.Get(StateGroups, &groups)
	if a.Status != 200 || strings.Join(groups, ",") != "lobby,random" {
		t.Fatalf("second: %d %q groups %v", a.Status, a.Body, groups)
	}
	ev = chat("alice", `{"room":"random","text":"third"}`)
	ev.RawState = raw2
	if a = f.event(t, ev); a.Status != 200 {
		t.Fatalf("third: %d", a.Status)
	}
	if _, set := a.State(); set {
		t.Fatal("the state must not be rewritten when the room is already known")
	}
	if n := len(f.rec.Requests()); n != 3 {
		t.Fatalf("%d sends, want 3", n)
	}
}

func TestMessageRejects(t *testing.T) {
	f := newMessage(t, func(c *Config) { c.MaxBytes = 200; c.MaxTextRunes = 20; c.AllowedRooms = []string{"lobby", "random"} })
	binary := chat("alice", `{"room":"lobby","text":"x"}`)
	binary.DataType = cloudevents.DataBinary
	other := chat("alice", `{"room":"lobby","text":"x"}`)
	other.EventName = "typing"
	cases := []struct {
		name   string
		ev     *cloudevents.UserEventRequest
		reason string
	}{
		{"event name", other, `event "typing" is not accepted (accepted: message)`},
		{"anonymous", chat("", `{"room":"lobby","text":"x"}`), "anonymous connections may not send messages"},
		{"too big", chat("alice", `{"room":"lobby","text":"`+strings.Repeat("x", 300)+`"}`), "message is 326 bytes; the limit is 200"},
		// Far over the limit (past MaxBytes+1 KiB): still the function's own
		// words and its own limit, not the body bound of the handler below.
		{"far too big", chat("alice", `{"room":"lobby","text":"`+strings.Repeat("x", 6000)+`"}`), "message is 6026 bytes; the limit is 200"},
		{"binary", binary, `data must be JSON {"room","text"}, not binary`},
		{"utf8", chat("alice", "{\"room\":\"lobby\",\"text\":\"\xff\"}"), "data is not valid UTF-8"},
		{"not json", chat("alice", `room=lobby`), `data is not a JSON object {"room","text"}`},
		{"array", chat("alice", `["lobby"]`), `data is not a JSON object {"room","text"}`},
		{"text type", chat("alice", `{"room":"lobby","text":5}`), `"text" must be a string`},
		{"no room", chat("alice", `{"text":"x"}`), `"room" is required`},
		{"bad room", chat("alice", `{"room":"../etc","text":"x"}`), `room "../etc" is not a valid room name (it must match ` + DefaultRoomPattern + `)`},
		{"closed room", chat("alice", `{"room":"secret","text":"x"}`), `room "secret" is not open`},
		{"empty text", chat("alice", `{"room":"lobby","text":" \n "}`), `"text" is empty`},
		{"long text", chat("alice", `{"room":"lobby","text":"`+strings.Repeat("é", 21)+`"}`), "text is 21 characters; the limit is 20"},
		{"control", chat("alice", `{"room":"lobby","text":"a\u0007b"}`), "text holds a control character"},
	}
	for _, c := range cases {
		a := f.event(t, c.ev)
		if a.Status != http.StatusBadRequest || string(a.Body) != c.reason {
			t.Errorf("%s: %d %q, want 400 %q", c.name, a.Status, a.Body, c.reason)
		}
	}
	if n := len(f.rec.Requests()); n != 0 {
		t.Fatalf("rejected messages sent %d REST calls: %+v", n, f.rec.Requests())
	}
	// Unsigned or forged events never reach the function.
	ev := chat("alice", `{"room":"lobby","text":"x"}`)
	ev.Hub, ev.ConnectionID = "chat", "conn-1"
	a, err := (&upstream.Caller{Keys: cloudevents.NewKeys("another-key")}).Send(context.Background(), f.url, ev)
	if err != nil || a.Status != http.StatusUnauthorized || len(f.rec.Requests()) != 0 {
		t.Fatalf("forged: %v %+v", err, a)
	}
	if strings.Contains(f.logs.String(), wpsrec.AccessKey) {
		t.Fatal("logs leak the key")
	}
}

func TestMessageAnonymousAllowed(t *testing.T) {
	f := newMessage(t, func(c *Config) { c.AllowAnonymous = true })
	if a := f.event(t, chat("", `{"room":"lobby","text":"hello"}`)); a.Status != 200 {
		t.Fatalf("%d %q", a.Status, a.Body)
	}
	if got := f.rec.Requests(); len(got) != 1 || !strings.Contains(got[0].Body, `"from":"anonymous"`) {
		t.Fatalf("%+v", got)
	}
}

func TestMessageServiceFailure(t *testing.T) {
	f := newMessage(t, nil)
	f.rec.Fail(http.StatusForbidden)
	a := f.event(t, chat("alice", `{"room":"lobby","text":"x"}`))
	if a.Status != http.StatusInternalServerError || string(a.Body) != "the message could not be published" {
		t.Fatalf("%d %q", a.Status, a.Body)
	}
}

func TestMessageSecondaryKey(t *testing.T) {
	const secondary = "SECONDARYKEY0123456789SECONDARYKEY0123456="
	f := newMessage(t, func(c *Config) { c.AccessKeys = []string{secondary} })
	for _, key := range []string{secondary, wpsrec.AccessKey} {
		ev := chat("alice", `{"room":"lobby","text":"hi"}`)
		ev.Hub, ev.ConnectionID = "chat", "conn-9"
		a, err := (&upstream.Caller{Keys: cloudevents.NewKeys(key)}).Send(context.Background(), f.url, ev)
		if err != nil || a.Status != http.StatusOK {
			t.Fatalf("signed with one of the keys: %v %+v", err, a)
		}
	}
	if n := len(f.rec.Requests()); n != 2 {
		t.Fatalf("%d sends", n)
	}
}

func TestMessageMinimalConfig(t *testing.T) {
	rec := wpsrec.New(t)
	h, err := New(Config{ConnectionString: rec.ConnectionString(), Hub: "chat", Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	f := &fixture{url: srv.URL, rec: rec}
	if a := f.event(t, chat("alice", `{"room":"lobby","text":"hi"}`)); a.Status != 200 || len(rec.Requests()) != 1 {
		t.Fatalf("%d %q", a.Status, a.Body)
	}
	if a := f.event(t, chat("alice", `{"room":"lobby","text":"`+strings.Repeat("x", 1001)+`"}`)); a.Status != 400 || string(a.Body) != "text is 1001 characters; the limit is 1000" {
		t.Fatalf("default limit: %d %q", a.Status, a.Body)
	}
}
