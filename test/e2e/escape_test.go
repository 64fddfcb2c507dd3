package e2e

import (
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestAwkwardIDs drives the user and group operations with ids that need
// escaping in a URL path, a query and an OData literal.
func TestAwkwardIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	for _, id := range []string{"a/b", "q?x=1&y", "h#frag", "p%2F", "sp ace", "ü+é", "o'neil", `back\slash`} {
		t.Run(id, func(t *testing.T) {
			c := e.connect("c", wps.ClientAccessOptions{UserID: id})
			other := e.connect("other", wps.ClientAccessOptions{UserID: id + "x"})
			if c.user != id {
				t.Errorf("connected userId = %q, want %q", c.user, id)
			}
			ok, err := e.wps.UserExists(ctx, id)
			if err != nil || !ok {
				t.Errorf("UserExists = %v, %v; want true", ok, err)
			}
			e.must("SendToUser", e.wps.SendToUser(ctx, id, wps.Text(id), nil))
			c.expect(`{"type":"message","from":"server","dataType":"text","data":` + js(id) + `}`)
			other.expectNone()
			e.must("SendToAll(FilterUserIs)", e.wps.SendToAll(ctx, wps.Text(id), &wps.SendOptions{Filter: wps.FilterUserIs(id)}))
			c.expect(`{"type":"message","from":"server","dataType":"text","data":` + js(id) + `}`)
			other.expectNone()
			group := "grp " + id
			e.must("AddUserToGroup", e.wps.AddUserToGroup(ctx, group, id))
			e.expectMembers(group, []*tclient{c, other}, c)
			e.must("RemoveUserFromGroup", e.wps.RemoveUserFromGroup(ctx, group, id))
			e.expectMembers(group, []*tclient{c, other})
			e.must("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, group, c.id))
			e.must("GrantPermission", e.wps.GrantPermission(ctx, c.id, wps.PermissionSendToGroup, &wps.PermissionOptions{TargetName: group}))
			e.expectPermission(c, wps.PermissionSendToGroup, group, true)
			c.expectAckOK(publish(group, "mine"))
			c.expect(publishedFrame(group, id, "mine"))
			e.must("CloseUserConnections", e.wps.CloseUserConnections(ctx, id, &wps.CloseOptions{Reason: "bye " + id}))
			c.expectClosed("bye " + id)
			other.expectNone()
			e.must("CloseConnection", e.wps.CloseConnection(ctx, other.id, nil))
			other.expectClosed("")
		})
	}
}

// TestSendOptions checks the options each send takes and rejects.
func TestSendOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u", Groups: []string{"g"}})
	ttl := &wps.SendOptions{MessageTTL: 1500 * time.Millisecond}
	e.must("SendToAll(ttl)", e.wps.SendToAll(ctx, wps.Text("1"), ttl))
	e.must("SendToUser(ttl)", e.wps.SendToUser(ctx, "u", wps.Text("2"), ttl))
	e.must("SendToConnection(ttl)", e.wps.SendToConnection(ctx, c.id, wps.Text("3"), ttl))
	e.must("SendToGroup(ttl)", e.wps.SendToGroup(ctx, "g", wps.Text("4"), &wps.SendOptions{MessageTTL: wps.MaxMessageTTL}))
	for _, d := range []string{"1", "2", "3"} {
		c.expect(`{"type":"message","from":"server","dataType":"text","data":"` + d + `"}`)
	}
	c.expect(`{"type":"message","from":"group","group":"g","dataType":"text","data":"4"}`)
	for name, err := range map[string]error{
		"SendToAll(ttl too long)":         e.wps.SendToAll(ctx, wps.Text("x"), &wps.SendOptions{MessageTTL: wps.MaxMessageTTL + time.Second}),
		"SendToUser(Excluded)":            e.wps.SendToUser(ctx, "u", wps.Text("x"), &wps.SendOptions{Excluded: []string{"a"}}),
		"SendToConnection(Filter)":        e.wps.SendToConnection(ctx, c.id, wps.Text("x"), &wps.SendOptions{Filter: wps.FilterUserIs("u")}),
		"SendToConnection(Excluded)":      e.wps.SendToConnection(ctx, c.id, wps.Text("x"), &wps.SendOptions{Excluded: []string{"a"}}),
		"SendToAll(unencodable JSON)":     e.wps.SendToAll(ctx, wps.JSON(func() {}), nil),
		"SendToAll(invalid filter)":       e.wps.SendToAll(ctx, wps.Text("x"), &wps.SendOptions{Filter: wps.RawFilter("userId eq")}),
		"SendToGroup(whitespace group)":   e.wps.SendToGroup(ctx, "   ", wps.Text("x"), nil),
		"AddConnectionsToGroups(bad)":     e.wps.AddConnectionsToGroups(ctx, []string{"g2"}, wps.RawFilter("userId eq 'u")),
		"RemoveConnectionsFromGroups(no)": e.wps.RemoveConnectionsFromGroups(ctx, []string{"g"}, wps.RawFilter("((")),
	} {
		if err == nil {
			t.Errorf("%s succeeded, want an error", name)
		}
	}
	c.expectNone()
	e.expectMembers("g", []*tclient{c}, c)
}
