package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// payload is one message of each content type and the (dataType, data) the
// json.webpubsub.azure.v1 protocol delivers it as.
type payload struct {
	name     string
	msg      wps.Message
	dataType string
	data     string // JSON of the frame's data field
}

func payloads() []payload {
	return []payload{
		{"json", wps.JSON(map[string]any{"text": "a<b>&c", "n": 1, "ok": true}), "json", `{"text":"a<b>&c","n":1,"ok":true}`},
		{"text", wps.Text("héllo, 世界"), "text", `"héllo, 世界"`},
		{"binary", wps.Binary([]byte{0, 1, 2, 0xfe, 0xff}), "binary", `"AAEC/v8="`},
		{"json-raw", wps.JSON(json.RawMessage(`{ "a" : [1, 2.5, null], "b": {"c": "d"} }`)), "json", `{"a":[1,2.5,null],"b":{"c":"d"}}`},
		{"json-string", wps.JSON("just a string"), "json", `"just a string"`},
	}
}

func serverFrame(p payload) string {
	return `{"type":"message","from":"server","dataType":"` + p.dataType + `","data":` + p.data + `}`
}

// groupFrame is what a REST SendToGroup delivers: a group message naming
// the group, with no fromUserId (the reference's §8b, as Microsoft's client
// SDK and emulator expect it).
func groupFrame(group string, p payload) string {
	return `{"type":"message","from":"group","group":` + js(group) + `,"dataType":"` + p.dataType + `","data":` + p.data + `}`
}

func TestSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const odd = "o'brien" // a user id that must be quoted in a filter
	alice := e.connect("alice", wps.ClientAccessOptions{UserID: "alice", Groups: []string{"room"}})
	alice2 := e.connect("alice2", wps.ClientAccessOptions{UserID: "alice"})
	bob := e.connect("bob", wps.ClientAccessOptions{UserID: "bob", Groups: []string{"room"}})
	obrien := e.connect("obrien", wps.ClientAccessOptions{UserID: odd, Groups: []string{"room", "vip"}})
	anon := e.connect("anon", wps.ClientAccessOptions{}) // no user id, no groups
	all := []*tclient{alice, alice2, bob, obrien, anon}
	if anon.user != "" {
		t.Errorf("anonymous client connected with userId %q", anon.user)
	}

	// check sends with op, then expects the frame at each of got and
	// nothing at the others.
	check := func(t *testing.T, frame string, got []*tclient, op func() error) {
		t.Helper()
		if err := op(); err != nil {
			t.Fatalf("send: %v", err)
		}
		in := map[*tclient]bool{}
		for _, c := range got {
			in[c] = true
			c.expect(frame)
		}
		for _, c := range all {
			if !in[c] {
				c.expectNone()
			}
		}
	}

	for _, p := range payloads() {
		t.Run(p.name, func(t *testing.T) {
			ctx := e.ctx()
			t.Run("SendToAll", func(t *testing.T) {
				check(t, serverFrame(p), all, func() error { return e.wps.SendToAll(ctx, p.msg, nil) })
			})
			t.Run("SendToAll/Excluded", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{alice2, obrien, anon}, func() error {
					return e.wps.SendToAll(ctx, p.msg, &wps.SendOptions{Excluded: ids(alice, bob)})
				})
			})
			t.Run("SendToAll/FilterQuotedUser", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{obrien}, func() error {
					return e.wps.SendToAll(ctx, p.msg, &wps.SendOptions{Filter: wps.FilterUserIs(odd)})
				})
			})
			t.Run("SendToAll/FilterOrAndNot", func(t *testing.T) {
				// alice's connections, plus room members that are not o'brien.
				f := wps.Or(wps.FilterUserIs("alice"), wps.And(wps.FilterInGroup("room"), wps.Not(wps.FilterUserIs(odd))))
				check(t, serverFrame(p), []*tclient{alice, alice2, bob}, func() error {
					return e.wps.SendToAll(ctx, p.msg, &wps.SendOptions{Filter: f})
				})
			})
			t.Run("SendToAll/FilterAndExcluded", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{bob, obrien}, func() error {
					return e.wps.SendToAll(ctx, p.msg, &wps.SendOptions{Filter: wps.FilterInGroup("room"), Excluded: []string{alice.id}})
				})
			})
			t.Run("SendToUser", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{alice, alice2}, func() error { return e.wps.SendToUser(ctx, "alice", p.msg, nil) })
			})
			t.Run("SendToUser/QuotedUser", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{obrien}, func() error { return e.wps.SendToUser(ctx, odd, p.msg, nil) })
			})
			t.Run("SendToUser/Filter", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{alice}, func() error {
					return e.wps.SendToUser(ctx, "alice", p.msg, &wps.SendOptions{Filter: wps.FilterInGroup("room")})
				})
			})
			t.Run("SendToConnection", func(t *testing.T) {
				check(t, serverFrame(p), []*tclient{bob}, func() error { return e.wps.SendToConnection(ctx, bob.id, p.msg, nil) })
			})
			t.Run("SendToGroup", func(t *testing.T) {
				check(t, groupFrame("room", p), []*tclient{alice, bob, obrien}, func() error {
					return e.wps.SendToGroup(ctx, "room", p.msg, nil)
				})
			})
			t.Run("SendToGroup/Excluded", func(t *testing.T) {
				check(t, groupFrame("room", p), []*tclient{bob}, func() error {
					return e.wps.SendToGroup(ctx, "room", p.msg, &wps.SendOptions{Excluded: ids(alice, obrien)})
				})
			})
			t.Run("SendToGroup/Filter", func(t *testing.T) {
				f := wps.And(wps.Not(wps.FilterUserIs("bob")), wps.Not(wps.FilterInGroup("vip")))
				check(t, groupFrame("room", p), []*tclient{alice}, func() error {
					return e.wps.SendToGroup(ctx, "room", p.msg, &wps.SendOptions{Filter: f})
				})
			})
			t.Run("SendToGroup/FilterQuotedUser", func(t *testing.T) {
				check(t, groupFrame("vip", p), []*tclient{obrien}, func() error {
					return e.wps.SendToGroup(ctx, "vip", p.msg, &wps.SendOptions{Filter: wps.FilterUserIs(odd)})
				})
			})
			t.Run("SendToGroup/Empty", func(t *testing.T) {
				check(t, groupFrame("nobody", p), nil, func() error { return e.wps.SendToGroup(ctx, "nobody", p.msg, nil) })
			})
		})
	}
}

// TestSendGroupNameEscaping sends to groups whose names need escaping in
// the URL path and in a filter literal.
func TestSendGroupNameEscaping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	groups := []string{"a b/c?d#e%f", "it's", "ünï", strings.Repeat("g", 1024)}
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u", Groups: groups})
	other := e.connect("other", wps.ClientAccessOptions{UserID: "v"})
	p := payloads()[1]
	for _, g := range groups {
		e.must("SendToGroup", e.wps.SendToGroup(e.ctx(), g, p.msg, nil))
		c.expect(groupFrame(g, p))
		e.must("SendToAll(InGroup)", e.wps.SendToAll(e.ctx(), p.msg, &wps.SendOptions{Filter: wps.FilterInGroup(g)}))
		c.expect(serverFrame(p))
	}
	other.expectNone()
	// Two members, listed one per page: the nextLink must keep the escaped name.
	c2 := e.connect("c2", wps.ClientAccessOptions{UserID: "u2", Groups: groups})
	for _, g := range groups {
		e.expectMembers(g, []*tclient{c, c2, other}, c, c2)
	}
	if err := e.wps.SendToGroup(e.ctx(), strings.Repeat("g", 1025), wps.Text("x"), nil); err == nil {
		t.Error("SendToGroup to a 1025-character group succeeded")
	}
}
