package e2e

import (
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func TestExists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	a := e.connect("a", wps.ClientAccessOptions{UserID: "o'brien", Groups: []string{"room"}})

	check := func(what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		} else if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	ok, err := e.wps.ConnectionExists(ctx, a.id)
	check("ConnectionExists(a)", ok, err, true)
	ok, err = e.wps.ConnectionExists(ctx, "no-such-connection")
	check("ConnectionExists(unknown)", ok, err, false)
	ok, err = e.wps.UserExists(ctx, "o'brien")
	check("UserExists(o'brien)", ok, err, true)
	ok, err = e.wps.UserExists(ctx, "nobody")
	check("UserExists(nobody)", ok, err, false)
	ok, err = e.wps.GroupExists(ctx, "room")
	check("GroupExists(room)", ok, err, true)
	ok, err = e.wps.GroupExists(ctx, "empty")
	check("GroupExists(empty)", ok, err, false)

	e.must("CloseConnection", e.wps.CloseConnection(ctx, a.id, &wps.CloseConnectionOptions{Reason: "bye"}))
	a.expectClosed("bye")
	ok, err = e.wps.ConnectionExists(ctx, a.id)
	check("ConnectionExists(a) after close", ok, err, false)
	ok, err = e.wps.UserExists(ctx, "o'brien")
	check("UserExists(o'brien) after close", ok, err, false)
	ok, err = e.wps.GroupExists(ctx, "room")
	check("GroupExists(room) after close", ok, err, false)
}

func TestClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()

	t.Run("CloseConnection", func(t *testing.T) {
		a := e.connect("a", wps.ClientAccessOptions{UserID: "alice"})
		b := e.connect("b", wps.ClientAccessOptions{UserID: "alice"})
		e.must("CloseConnection", e.wps.CloseConnection(ctx, a.id, &wps.CloseConnectionOptions{Reason: "going away: test ✓"}))
		a.expectClosed("going away: test ✓")
		b.expectNone() // the user's other connection stays
		e.must("CloseConnection", e.wps.CloseConnection(ctx, b.id, nil))
		b.expectClosed("")
	})

	t.Run("CloseConnection/LongReason", func(t *testing.T) {
		// Longer than a WebSocket close frame can carry (123 bytes): the
		// disconnected message still has all of it and the socket closes.
		a := e.connect("a", wps.ClientAccessOptions{UserID: "long"})
		reason := strings.Repeat("ä reason that goes on; ", 20)
		e.must("CloseConnection", e.wps.CloseConnection(ctx, a.id, &wps.CloseConnectionOptions{Reason: reason}))
		a.expectClosed(reason)
	})

	t.Run("CloseUserConnections", func(t *testing.T) {
		u1 := e.connect("u1", wps.ClientAccessOptions{UserID: "o'brien"})
		u2 := e.connect("u2", wps.ClientAccessOptions{UserID: "o'brien"})
		u3 := e.connect("u3", wps.ClientAccessOptions{UserID: "o'brien"})
		other := e.connect("other", wps.ClientAccessOptions{UserID: "bob"})
		e.must("CloseUserConnections", e.wps.CloseUserConnections(ctx, "o'brien", &wps.CloseOptions{Excluded: []string{u2.id}, Reason: "user"}))
		u1.expectClosed("user")
		u3.expectClosed("user")
		u2.expectNone()
		other.expectNone()
		e.must("CloseConnection", e.wps.CloseConnection(ctx, u2.id, nil))
		u2.expectClosed("")
		e.must("CloseConnection", e.wps.CloseConnection(ctx, other.id, nil))
		other.expectClosed("")
	})

	t.Run("CloseGroupConnections", func(t *testing.T) {
		g1 := e.connect("g1", wps.ClientAccessOptions{UserID: "x", Groups: []string{"room"}})
		g2 := e.connect("g2", wps.ClientAccessOptions{UserID: "y", Groups: []string{"room"}})
		g3 := e.connect("g3", wps.ClientAccessOptions{Groups: []string{"room"}})
		out := e.connect("out", wps.ClientAccessOptions{UserID: "x"})
		e.must("CloseGroupConnections", e.wps.CloseGroupConnections(ctx, "room", &wps.CloseOptions{Excluded: []string{g2.id}, Reason: "room closed"}))
		g1.expectClosed("room closed")
		g3.expectClosed("room closed")
		g2.expectNone()
		out.expectNone()
		e.expectMembers("room", []*tclient{g2, out}, g2)
		e.must("CloseGroupConnections", e.wps.CloseGroupConnections(ctx, "room", nil))
		g2.expectClosed("")
		out.expectNone()
		e.must("CloseConnection", e.wps.CloseConnection(ctx, out.id, nil))
		out.expectClosed("")
	})

	t.Run("CloseAllConnections", func(t *testing.T) {
		a := e.connect("a", wps.ClientAccessOptions{UserID: "a"})
		b := e.connect("b", wps.ClientAccessOptions{UserID: "b"})
		c := e.connect("c", wps.ClientAccessOptions{})
		e.must("CloseAllConnections", e.wps.CloseAllConnections(ctx, &wps.CloseOptions{Excluded: []string{b.id}, Reason: "maintenance"}))
		a.expectClosed("maintenance")
		c.expectClosed("maintenance")
		b.expectNone()
		ok, err := e.wps.ConnectionExists(ctx, a.id)
		if err != nil || ok {
			t.Errorf("ConnectionExists(closed) = %v, %v; want false", ok, err)
		}
		e.must("CloseAllConnections", e.wps.CloseAllConnections(ctx, nil))
		b.expectClosed("")
		if n := len(e.connections()); n != 0 {
			t.Errorf("after CloseAllConnections the emulator still has %d connections", n)
		}
	})

	t.Run("HubNameCaseInsensitive", func(t *testing.T) {
		a := e.connect("a", wps.ClientAccessOptions{UserID: "case"})
		e.must("SendToUser", e.client("E2E").SendToUser(ctx, "case", wps.Text("upper"), nil))
		a.expect(`{"type":"message","from":"server","dataType":"text","data":"upper"}`)
		e.must("CloseConnection", e.wps.CloseConnection(ctx, a.id, nil))
		a.expectClosed("")
	})

	t.Run("OtherHubUntouched", func(t *testing.T) {
		other := e.client("other")
		ca, err := other.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "a"})
		e.must("ClientAccessURL", err)
		keep := e.dialURL("keep", ca.URL)
		here := e.connect("here", wps.ClientAccessOptions{UserID: "a"})
		e.must("CloseUserConnections", e.wps.CloseUserConnections(ctx, "a", nil))
		here.expectClosed("")
		e.must("SendToConnection", other.SendToConnection(ctx, keep.id, wps.Text("still here"), nil))
		keep.expect(`{"type":"message","from":"server","dataType":"text","data":"still here"}`)
	})
}

// connections returns the ids of the open connections of the env's hub.
func (e *env) connections() []string {
	var out []string
	for _, h := range e.emu.Snapshot().Hubs {
		if h.Name == e.hub {
			for _, c := range h.Connections {
				out = append(out, c.ID)
			}
		}
	}
	return out
}
