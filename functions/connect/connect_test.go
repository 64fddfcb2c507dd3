package connect

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/functions/internal/wpsrec"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

type fixture struct {
	url  string
	rec  *wpsrec.Recorder
	logs *bytes.Buffer
}

func newConnect(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	rec := wpsrec.New(t)
	logs := &bytes.Buffer{}
	cfg, err := LoadConfigFrom(map[string]string{"WEBPUBSUB_CONNECTION_STRING": rec.ConnectionString(), "WEBPUBSUB_HUB": "chat"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL + "/api/connect", rec: rec, logs: logs}
}

// send delivers ev the way the service does: signed with the access key.
func (f *fixture) send(t *testing.T, ev cloudevents.Event) *cloudevents.Answer {
	t.Helper()
	a, err := (&upstream.Caller{Keys: cloudevents.NewKeys(wpsrec.AccessKey)}).Send(context.Background(), f.url, ev)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cc(conn, user string) cloudevents.ConnectionContext {
	return cloudevents.ConnectionContext{Hub: "chat", ConnectionID: conn, UserID: user}
}

func connectReq(user string, query map[string][]string, protocols ...string) *cloudevents.ConnectRequest {
	r := &cloudevents.ConnectRequest{ConnectionContext: cc("conn-1", user), Query: query, Subprotocols: protocols,
		Claims: map[string][]string{"aud": {"http://x/client/hubs/chat"}}}
	if user != "" {
		r.Claims["sub"] = []string{user}
	}
	return r
}

func TestConnectAccepts(t *testing.T) {
	f := newConnect(t, func(c *Config) {
		c.AllowedGroups = []string{"lobby", "random"}
		c.Roles = []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.lobby"}
	})
	req := connectReq("alice", map[string][]string{"group": {"lobby", "random", "lobby"}}, "mqtt", "json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1")
	req.Claims["webpubsub.group"] = []string{"news"}
	a := f.send(t, req)
	res, err := a.Connect()
	if err != nil || res == nil {
		t.Fatalf("connect: %v %d %q", err, a.Status, a.Body)
	}
	if res.UserID != "alice" || strings.Join(res.Groups, ",") != "lobby,random" ||
		strings.Join(res.Roles, ",") != "webpubsub.joinLeaveGroup,webpubsub.sendToGroup.lobby" || res.Subprotocol != "json.webpubsub.azure.v1" {
		t.Fatalf("response %+v", res)
	}
	raw, _ := a.State()
	st, _ := cloudevents.DecodeState(raw)
	var groups []string
	if _, err := st.Get(StateGroups, &groups); err != nil || strings.Join(groups, ",") != "lobby,random,news" {
		t.Fatalf("state groups %v %v", groups, err)
	}
	// The token's sub is the user even when ce-userId is absent.
	req = connectReq("bob", nil)
	req.UserID = ""
	if res, err := f.send(t, req).Connect(); err != nil || res.UserID != "bob" || res.Groups != nil || res.Subprotocol != "" {
		t.Fatalf("bob: %+v %v", res, err)
	}
	if n := len(f.rec.Requests()); n != 0 {
		t.Fatalf("connect must not call the REST API; it made %d calls", n)
	}
}

func TestConnectRefuses(t *testing.T) {
	f := newConnect(t, func(c *Config) { c.AllowedGroups = []string{"lobby"}; c.MaxGroups = 1 })
	cases := []struct {
		name   string
		req    *cloudevents.ConnectRequest
		status int
		reason string
	}{
		{"anonymous", connectReq("", nil), 401, "anonymous connections are not allowed: the client token has no sub (user id)"},
		{"group not allowed", connectReq("alice", map[string][]string{"group": {"lobby", "admins"}}), 403, `group "admins" may not be joined`},
		{"bad group", connectReq("alice", map[string][]string{"group": {" "}}), 400, `group " " is not a valid group name`},
		{"control group", connectReq("alice", map[string][]string{"group": {"a\x00"}}), 400, `group "a\x00" is not a valid group name`},
	}
	for _, c := range cases {
		a := f.send(t, c.req)
		if a.Status != c.status || string(a.Body) != c.reason {
			t.Errorf("%s: %d %q, want %d %q", c.name, a.Status, a.Body, c.status, c.reason)
		}
	}
	g := newConnect(t, func(c *Config) { c.MaxGroups = 1 })
	if a := g.send(t, connectReq("alice", map[string][]string{"group": {"a", "b"}})); a.Status != 400 || string(a.Body) != "too many groups asked for (at most 1)" {
		t.Errorf("too many groups: %d %q", a.Status, a.Body)
	}
	// Without an allow-list any valid group may be asked for.
	if res, err := g.send(t, connectReq("alice", map[string][]string{"group": {"anything"}})).Connect(); err != nil || res.Groups[0] != "anything" {
		t.Errorf("no allow-list: %+v %v", res, err)
	}
	// Forged signature: refused before the function runs.
	a, err := (&upstream.Caller{Keys: cloudevents.NewKeys("not-the-key")}).Send(context.Background(), f.url, connectReq("alice", nil))
	if err != nil || a.Status != http.StatusUnauthorized {
		t.Fatalf("forged: %v %+v", err, a)
	}
}

func TestConnectAnonymousAllowed(t *testing.T) {
	f := newConnect(t, func(c *Config) { c.AllowAnonymous = true })
	a := f.send(t, connectReq("", nil))
	if res, err := a.Connect(); err != nil || res == nil || res.UserID != "" {
		t.Fatalf("%+v %v (%d %q)", res, err, a.Status, a.Body)
	}
	// Anonymous connections are greeted without a name and never announced.
	f.send(t, &cloudevents.ConnectedRequest{ConnectionContext: cc("anon-1", "")})
	f.send(t, &cloudevents.GroupEventRequest{ConnectionContext: cc("anon-1", ""), Group: "lobby"})
	f.send(t, &cloudevents.DisconnectedRequest{ConnectionContext: cc("anon-1", "")})
	got := f.rec.Requests()
	if len(got) != 1 || got[0].Path != "/api/hubs/chat/connections/anon-1/:send" || got[0].Body != `{"type":"system","text":"welcome"}` {
		t.Fatalf("%+v", got)
	}
}

func TestConnectedGreets(t *testing.T) {
	f := newConnect(t, nil)
	a := f.send(t, &cloudevents.ConnectedRequest{ConnectionContext: cc("conn/1 ä", "o'brien")})
	if a.Status/100 != 2 {
		t.Fatalf("%d %q", a.Status, a.Body)
	}
	want := []wpsrec.Request{{Method: "POST", Path: "/api/hubs/chat/connections/conn%2F1%20%C3%A4/:send", RawQuery: "api-version=2024-12-01",
		ContentType: "application/json", Body: `{"type":"system","text":"welcome o'brien"}`}}
	if got := f.rec.Requests(); !slices.Equal(got, want) {
		t.Fatalf("sent %+v\nwant %+v", got, want)
	}
	// A failing service is reported (the service only logs it) and never panics.
	f.rec.Fail(http.StatusNotFound)
	if a := f.send(t, &cloudevents.ConnectedRequest{ConnectionContext: cc("gone", "alice")}); a.Status/100 == 2 {
		t.Fatalf("failed greeting answered %d", a.Status)
	}
	g := newConnect(t, func(c *Config) { c.DisableGreet = true })
	g.send(t, &cloudevents.ConnectedRequest{ConnectionContext: cc("c", "alice")})
	if n := len(g.rec.Requests()); n != 0 {
		t.Fatalf("DisableGreet still sent %d", n)
	}
}

func TestDisconnectedAnnounces(t *testing.T) {
	f := newConnect(t, func(c *Config) { c.AllowedGroups = []string{"lobby", "news"} })
	// connect grants lobby (query) and records news (token) in the state.
	req := connectReq("alice", map[string][]string{"group": {"lobby"}})
	req.ConnectionID = "c1"
	req.Claims["webpubsub.group"] = []string{"news"}
	state, _ := f.send(t, req).State()
	// The client then joins "random" and "dev" itself and leaves "news" and "dev".
	for _, g := range []struct {
		group  string
		joined bool
	}{{"random", true}, {"dev", true}, {"news", false}, {"dev", false}} {
		ev := &cloudevents.GroupEventRequest{ConnectionContext: cc("c1", "alice"), Group: g.group}
		if !g.joined {
			ev.EventName = "left"
		}
		if a := f.send(t, ev); a.Status/100 != 2 {
			t.Fatalf("group event: %d %q", a.Status, a.Body)
		}
	}
	// Each join and leave was announced to its group.
	joined := `{"type":"system","event":"joined","user":"alice"}`
	left := `{"type":"system","event":"left","user":"alice"}`
	if got, want := f.rec.Requests(), []wpsrec.Request{
		{Method: "POST", Path: "/api/hubs/chat/groups/random/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: joined},
		{Method: "POST", Path: "/api/hubs/chat/groups/dev/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: joined},
		{Method: "POST", Path: "/api/hubs/chat/groups/news/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: left},
		{Method: "POST", Path: "/api/hubs/chat/groups/dev/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: left},
	}; !slices.Equal(got, want) {
		t.Fatalf("join announcements %+v\nwant %+v", got, want)
	}
	f.rec.Reset()
	a := f.send(t, &cloudevents.DisconnectedRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c1", UserID: "alice", RawState: state}, Reason: "closed"})
	if a.Status/100 != 2 {
		t.Fatalf("%d %q", a.Status, a.Body)
	}
	body := `{"type":"system","event":"left","user":"alice"}`
	want := []wpsrec.Request{
		{Method: "POST", Path: "/api/hubs/chat/groups/lobby/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: body},
		{Method: "POST", Path: "/api/hubs/chat/groups/random/:send", RawQuery: "api-version=2024-12-01", ContentType: "application/json", Body: body},
	}
	if got := f.rec.Requests(); !slices.Equal(got, want) {
		t.Fatalf("sent %+v\nwant %+v", got, want)
	}
	// Rooms the message function recorded in the state, on another instance
	// that saw no group events, are announced too.
	f.rec.Reset()
	g := newConnect(t, nil)
	raw := stateWith(t, []string{"lobby", "room 2"})
	g.send(t, &cloudevents.DisconnectedRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c2", UserID: "bob", RawState: raw}})
	got := g.rec.Requests()
	if len(got) != 2 || got[0].Path != "/api/hubs/chat/groups/lobby/:send" || got[1].Path != "/api/hubs/chat/groups/room%202/:send" || got[1].Body != `{"type":"system","event":"left","user":"bob"}` {
		t.Fatalf("%+v", got)
	}
	// The tracker forgot c1: a repeated disconnected without state announces nothing.
	f.rec.Reset()
	f.send(t, &cloudevents.DisconnectedRequest{ConnectionContext: cc("c1", "alice")})
	if n := len(f.rec.Requests()); n != 0 {
		t.Fatalf("tracker kept c1: %d sends", n)
	}
}

// stateWith encodes a connection state holding groups the way a handler's
// answer does, by running a connect through a handler that sets it.
func stateWith(t *testing.T, groups []string) string {
	t.Helper()
	h := &cloudevents.Handler{Hub: "chat", Keys: cloudevents.NewKeys("k"),
		Connect: func(ctx context.Context, r *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
			res := &cloudevents.ConnectResponse{}
			return res, res.SetState(StateGroups, groups)
		}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	a, err := (&upstream.Caller{Keys: cloudevents.NewKeys("k")}).Send(context.Background(), srv.URL, &cloudevents.ConnectRequest{ConnectionContext: cc("x", "u")})
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := a.State()
	if !ok {
		t.Fatalf("no state: %d %q", a.Status, a.Body)
	}
	return raw
}

func TestTrackerBounded(t *testing.T) {
	tr := newTracker(3)
	for i := range 10 {
		tr.set(string(rune('a'+i)), "u", "g", true)
	}
	if n := len(tr.conns); n != 3 {
		t.Fatalf("%d connections tracked, want 3", n)
	}
	// The evicted connections no longer count as the user's in g.
	if n := len(tr.others("u", "g", "")); n != 3 {
		t.Fatalf("user u has %d connections in g, want the 3 tracked", n)
	}
	tr.set("j", "u", "h", false)
	if m := tr.take("j"); !m["g"] || m["h"] || len(m) != 2 {
		t.Fatalf("%v", m)
	}
	if n := len(tr.others("u", "g", "")); n != 2 {
		t.Fatalf("after take: %d, want 2", n)
	}
}

// Presence is per user: alice's second tab joining the room, and one of
// her two tabs closing, are not announced (once the service says the other
// tab is still open); her last tab leaving is.
func TestPresenceIsPerUser(t *testing.T) {
	f := newConnect(t, nil)
	ev := func(conn, event string) {
		t.Helper()
		var e cloudevents.Event
		switch event {
		case "joined", "left":
			g := &cloudevents.GroupEventRequest{ConnectionContext: cc(conn, "alice"), Group: "lobby"}
			if event == "left" {
				g.EventName = "left"
			}
			e = g
		case "disconnected":
			e = &cloudevents.DisconnectedRequest{ConnectionContext: cc(conn, "alice")}
		}
		if a := f.send(t, e); a.Status/100 != 2 {
			t.Fatalf("%s %s: %d %q", conn, event, a.Status, a.Body)
		}
	}
	sent := func() []string {
		var b []string
		for _, r := range f.rec.Requests() {
			b = append(b, r.Method+" "+r.Path+" "+r.Body)
		}
		f.rec.Reset()
		return b
	}
	joined := `POST /api/hubs/chat/groups/lobby/:send {"type":"system","event":"joined","user":"alice"}`
	left := `POST /api/hubs/chat/groups/lobby/:send {"type":"system","event":"left","user":"alice"}`
	open := func(conn string) string { return "HEAD /api/hubs/chat/connections/" + conn + " " }
	for _, step := range []struct {
		conn, event string
		gone        string // a connection that closed without this instance seeing it
		want        []string
	}{
		{conn: "tab1", event: "joined", want: []string{joined}},
		{conn: "tab2", event: "joined", want: []string{open("tab1")}},       // a second tab
		{conn: "tab1", event: "disconnected", want: []string{open("tab2")}}, // one of two closed
		{conn: "tab3", event: "joined", want: []string{open("tab2")}},
		{conn: "tab3", event: "left", want: []string{open("tab2")}}, // tab2 is still in
		{conn: "tab2", event: "disconnected", want: []string{left}},
		{conn: "tab4", event: "joined", want: []string{joined}}, // back: news again
		{conn: "tab4", event: "left", want: []string{left}},
		// With several instances, tab6's disconnected event went to another
		// one: the service says it is closed, so tab5's leave is news.
		{conn: "tab5", event: "joined", want: []string{joined}},
		{conn: "tab6", event: "joined", want: []string{open("tab5")}},
		{conn: "tab5", event: "disconnected", gone: "tab6", want: []string{open("tab6"), left}},
		{conn: "tab7", event: "joined", want: []string{joined}}, // tab6 was forgotten: no check
	} {
		if step.gone != "" {
			f.rec.Gone(step.gone)
		}
		ev(step.conn, step.event)
		if got := sent(); !slices.Equal(got, step.want) {
			t.Errorf("%s %s: sent %q, want %q", step.conn, step.event, got, step.want)
		}
	}
}
