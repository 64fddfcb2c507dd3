package e2e

import (
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func join(g string) map[string]any  { return map[string]any{"type": "joinGroup", "group": g} }
func leave(g string) map[string]any { return map[string]any{"type": "leaveGroup", "group": g} }
func publish(g, text string) map[string]any {
	return map[string]any{"type": "sendToGroup", "group": g, "dataType": "text", "data": text}
}

// publishedFrame is what members of g get when user publishes text to it.
func publishedFrame(g, user, text string) string {
	return `{"type":"message","from":"group","group":` + js(g) + `,"fromUserId":` + js(user) + `,"dataType":"text","data":` + js(text) + `}`
}

// expectPermission checks CheckPermission for p on c with target.
func (e *env) expectPermission(c *tclient, p wps.Permission, target string, want bool) {
	e.t.Helper()
	var opts *wps.PermissionOptions
	if target != "" {
		opts = &wps.PermissionOptions{TargetName: target}
	}
	got, err := e.wps.CheckPermission(e.ctx(), c.id, p, opts)
	if err != nil {
		e.t.Errorf("CheckPermission(%s, %s, %q): %v", c.name, p, target, err)
	} else if got != want {
		e.t.Errorf("CheckPermission(%s, %s, %q) = %v, want %v", c.name, p, target, got, want)
	}
}

func TestPermissionJoinLeaveGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	const p = wps.PermissionJoinLeaveGroup
	c := e.connect("c", wps.ClientAccessOptions{UserID: "p"})

	e.expectPermission(c, p, "", false)
	e.expectPermission(c, p, "g", false)
	c.expectAckError(join("g"), "Forbidden")
	e.expectMembers("g", []*tclient{c})

	// Granted for one group.
	e.must("GrantPermission(g)", e.wps.GrantPermission(ctx, c.id, p, &wps.PermissionOptions{TargetName: "g"}))
	e.expectPermission(c, p, "g", true)
	e.expectPermission(c, p, "h", false)
	e.expectPermission(c, wps.PermissionSendToGroup, "g", false)
	c.expectAckOK(join("g"))
	e.expectMembers("g", []*tclient{c}, c)
	c.expectAckError(join("h"), "Forbidden")

	// Revoked for that group: leaving is refused too.
	e.must("RevokePermission(g)", e.wps.RevokePermission(ctx, c.id, p, &wps.PermissionOptions{TargetName: "g"}))
	e.expectPermission(c, p, "g", false)
	c.expectAckError(leave("g"), "Forbidden")
	e.expectMembers("g", []*tclient{c}, c)

	// Granted without a target: every group.
	e.must("GrantPermission", e.wps.GrantPermission(ctx, c.id, p, nil))
	e.expectPermission(c, p, "", true)
	e.expectPermission(c, p, "h", true)
	c.expectAckOK(join("h"))
	c.expectAckOK(leave("g"))
	e.expectMembers("h", []*tclient{c}, c)
	e.expectMembers("g", []*tclient{c})

	// Revoked without a target.
	e.must("RevokePermission", e.wps.RevokePermission(ctx, c.id, p, nil))
	e.expectPermission(c, p, "", false)
	e.expectPermission(c, p, "h", false)
	c.expectAckError(join("k"), "Forbidden")
	c.expectAckError(leave("h"), "Forbidden")
	e.expectMembers("k", []*tclient{c})
	e.expectMembers("h", []*tclient{c}, c)
}

func TestPermissionSendToGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	const p = wps.PermissionSendToGroup
	c := e.connect("c", wps.ClientAccessOptions{UserID: "sender"})
	g := e.connect("g-member", wps.ClientAccessOptions{UserID: "m1", Groups: []string{"g"}})
	h := e.connect("h-member", wps.ClientAccessOptions{UserID: "m2", Groups: []string{"h"}})

	e.expectPermission(c, p, "g", false)
	c.expectAckError(publish("g", "denied"), "Forbidden")
	g.expectNone()

	e.must("GrantPermission(g)", e.wps.GrantPermission(ctx, c.id, p, &wps.PermissionOptions{TargetName: "g"}))
	e.expectPermission(c, p, "g", true)
	e.expectPermission(c, p, "h", false)
	e.expectPermission(c, wps.PermissionJoinLeaveGroup, "g", false)
	c.expectAckOK(publish("g", "hello g"))
	g.expect(publishedFrame("g", "sender", "hello g"))
	c.expectAckError(publish("h", "denied"), "Forbidden")
	h.expectNone()
	c.expectNone() // not a member: no echo

	e.must("RevokePermission(g)", e.wps.RevokePermission(ctx, c.id, p, &wps.PermissionOptions{TargetName: "g"}))
	e.expectPermission(c, p, "g", false)
	c.expectAckError(publish("g", "denied again"), "Forbidden")
	g.expectNone()

	e.must("GrantPermission", e.wps.GrantPermission(ctx, c.id, p, nil))
	e.expectPermission(c, p, "", true)
	e.expectPermission(c, p, "h", true)
	c.expectAckOK(publish("h", "hello h"))
	h.expect(publishedFrame("h", "sender", "hello h"))
	g.expectNone()

	e.must("RevokePermission", e.wps.RevokePermission(ctx, c.id, p, nil))
	e.expectPermission(c, p, "", false)
	c.expectAckError(publish("h", "denied"), "Forbidden")
	h.expectNone()
}

// TestTokenRoles checks the roles and groups of ClientAccessURL.
func TestTokenRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.connect("c", wps.ClientAccessOptions{
		UserID: "r",
		Roles:  []string{wps.RoleJoinLeaveGroup("r1"), wps.RoleSendToGroupAny},
		Groups: []string{"initial", "it's"},
	})
	other := e.connect("other", wps.ClientAccessOptions{UserID: "o", Groups: []string{"initial"}})

	// The token's groups are joined on connect, without a join permission.
	e.expectMembers("initial", []*tclient{c, other}, c, other)
	e.expectMembers("it's", []*tclient{c, other}, c)
	c.expectAckOK(join("r1"))
	c.expectAckError(join("r2"), "Forbidden")
	c.expectAckError(leave("initial"), "Forbidden")

	// Send to any group; the sender, a member, gets its own message unless noEcho.
	c.expectAckOK(publish("initial", "echo"))
	c.expect(publishedFrame("initial", "r", "echo"))
	other.expect(publishedFrame("initial", "r", "echo"))
	m := publish("initial", "quiet")
	m["noEcho"] = true
	c.expectAckOK(m)
	other.expect(publishedFrame("initial", "r", "quiet"))
	c.expectNone()

	// Wildcard role.
	w := e.connect("w", wps.ClientAccessOptions{UserID: "w", Roles: []string{wps.RoleJoinLeaveGroups("room.*")}})
	w.expectAckOK(join("room.1"))
	w.expectAckError(join("room.1.x"), "Forbidden")
	w.expectAckError(join("lobby"), "Forbidden")
}

// TestTokenRolesAreConnectionPermissions checks that the REST permission
// API sees, and can take back, what the token's roles granted.
func TestTokenRolesAreConnectionPermissions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u", Roles: []string{wps.RoleSendToGroup("g"), wps.RoleJoinLeaveGroupAny}})
	e.expectPermission(c, wps.PermissionSendToGroup, "g", true)
	e.expectPermission(c, wps.PermissionSendToGroup, "h", false)
	e.expectPermission(c, wps.PermissionJoinLeaveGroup, "", true)
	e.expectPermission(c, wps.PermissionJoinLeaveGroup, "any", true)
	e.must("RevokePermission", e.wps.RevokePermission(ctx, c.id, wps.PermissionSendToGroup, &wps.PermissionOptions{TargetName: "g"}))
	e.expectPermission(c, wps.PermissionSendToGroup, "g", false)
	c.expectAckError(publish("g", "x"), "Forbidden")
	e.must("RevokePermission", e.wps.RevokePermission(ctx, c.id, wps.PermissionJoinLeaveGroup, nil))
	c.expectAckError(join("any"), "Forbidden")
}

// TestDuplicateAck checks that a repeated ackId is not processed twice.
func TestDuplicateAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u", Roles: []string{wps.RoleSendToGroupAny}, Groups: []string{"g"}})
	m := publish("g", "once")
	c.expectAckOK(m)
	c.expect(publishedFrame("g", "u", "once"))
	c.ackID-- // resend with the same ackId
	c.expectAckError(m, "Duplicate")
	c.expectNone()
}
