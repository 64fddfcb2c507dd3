package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestKeyRotation signs with the primary key, then the secondary (both are
// accepted), then a retired one (refused).
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	const primary, secondary = "cHJpbWFyeS1rZXktZm9yLWUyZS10ZXN0cw", "c2Vjb25kYXJ5LWtleS1mb3ItZTJlLXRlc3Rz"
	e := newEnvConfig(t, emulator.Config{AccessKey: primary, SecondaryKey: secondary})
	ctx := e.ctx()
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u"})
	key := wps.NewKeyCredential(primary)
	cl, err := wps.NewClientWithKey(e.base, e.hub, key, &wps.ClientOptions{Retry: wps.RetryOptions{MaxRetries: -1}})
	e.must("NewClient", err)
	e.must("SendToUser(primary)", cl.SendToUser(ctx, "u", wps.Text("p"), nil))
	c.expect(`{"type":"message","from":"server","dataType":"text","data":"p"}`)
	key.Update(secondary)
	e.must("SendToUser(secondary)", cl.SendToUser(ctx, "u", wps.Text("s"), nil))
	c.expect(`{"type":"message","from":"server","dataType":"text","data":"s"}`)
	ca, err := cl.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "v"})
	e.must("ClientAccessURL(secondary)", err)
	v := e.dialURL("v", ca.URL)
	if v.user != "v" {
		t.Errorf("connected userId = %q, want v", v.user)
	}
	key.Update(emulator.DefaultAccessKey) // not a key of this emulator
	err = cl.SendToUser(ctx, "u", wps.Text("x"), nil)
	var re *wps.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Errorf("SendToUser with a retired key: %v, want 401", err)
	} else if strings.Contains(err.Error(), emulator.DefaultAccessKey) {
		t.Errorf("error text contains the key: %v", err)
	}
	c.expectNone()
}

// TestLargeMessages sends big payloads of each type and checks them byte for byte.
func TestLargeMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u"})
	bin := make([]byte, 600<<10)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	e.must("SendToAll(binary)", e.wps.SendToAll(ctx, wps.Binary(bin), nil))
	m := c.next()
	got, err := base64.StdEncoding.DecodeString(m["data"].(string))
	if m["dataType"] != "binary" || err != nil || !bytes.Equal(got, bin) {
		t.Errorf("large binary: dataType %v, %d bytes (err %v), want %d identical bytes", m["dataType"], len(got), err, len(bin))
	}
	text := strings.Repeat("ab\"c\\\n✓", 40<<10)
	e.must("SendToAll(text)", e.wps.SendToAll(ctx, wps.Text(text), nil))
	if m := c.next(); m["dataType"] != "text" || m["data"] != text {
		t.Errorf("large text not delivered intact (dataType %v, %d chars)", m["dataType"], len(m["data"].(string)))
	}
	c.expectNone()
}

// TestBearerHeader connects with the token in an Authorization
// header instead of the query.
func TestBearerHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ca, err := e.wps.ClientAccessURL(e.ctx(), &wps.ClientAccessOptions{UserID: "hdr"})
	e.must("ClientAccessURL", err)
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, ca.BaseURL, &websocket.DialOptions{
		Subprotocols: []string{subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + ca.Token}},
	})
	if err != nil {
		t.Fatalf("dial with Authorization header: %v", err)
	}
	defer conn.CloseNow()
	_, b, err := conn.Read(ctx)
	if err != nil || !bytes.Contains(b, []byte(`"userId":"hdr"`)) {
		t.Errorf("first frame %s, %v; want connected for hdr", b, err)
	}
}

// TestUserGroupsAndLaterConnections checks user group membership against
// connections that come after RemoveUserFromAllGroups.
func TestUserGroupsAndLaterConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	a := e.connect("a", wps.ClientAccessOptions{UserID: "z"})
	e.must("AddUserToGroup", e.wps.AddUserToGroup(ctx, "zg", "z"))
	e.must("RemoveUserFromAllGroups", e.wps.RemoveUserFromAllGroups(ctx, "z"))
	b := e.connect("b", wps.ClientAccessOptions{UserID: "z"})
	e.expectMembers("zg", []*tclient{a, b})
	ok, err := e.wps.GroupExists(ctx, "zg")
	if err != nil || ok {
		t.Errorf("GroupExists(zg) = %v, %v; want false", ok, err)
	}
}

// TestShutdown checks that clients learn of an emulator shutdown.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.connect("a", wps.ClientAccessOptions{UserID: "a"})
	b := e.connect("b", wps.ClientAccessOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	e.must("Shutdown", e.emu.Shutdown(ctx))
	a.expectClosed("")
	b.expectClosed("")
	err := e.wps.SendToAll(e.ctx(), wps.Text("late"), nil)
	var re *wps.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("SendToAll after Shutdown: %v, want 503", err)
	}
}

// TestInvalidFilter checks that the service, not just the library, answers
// a malformed filter with 400.
func TestInvalidFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u"})
	for _, f := range []string{"userId eq", "userId eq 'u", "((", "userId eq 'a' and", "foo eq 'u'"} {
		err := e.wps.SendToAll(e.ctx(), wps.Text("x"), &wps.SendOptions{Filter: wps.RawFilter(f)})
		var re *wps.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
			t.Errorf("SendToAll(filter %q): %v, want a 400 *wps.ResponseError", f, err)
		}
	}
	c.expectNone()
}

// TestPlainWebSocketClient checks what a client without a subprotocol gets
// from REST sends: the payload itself, as a text frame for text and JSON and
// a binary frame for binary.
func TestPlainWebSocketClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	ca, err := e.wps.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "plain", Groups: []string{"g"}})
	e.must("ClientAccessURL", err)
	conn, _, err := websocket.Dial(ctx, ca.URL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "" {
		t.Errorf("subprotocol %q, want none", conn.Subprotocol())
	}
	read := func(wantType websocket.MessageType, want string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, frameTimeout)
		defer cancel()
		typ, b, err := conn.Read(rctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != wantType || string(b) != want {
			t.Errorf("got %v frame %q, want %v frame %q", typ, b, wantType, want)
		}
	}
	e.must("SendToUser(text)", e.wps.SendToUser(ctx, "plain", wps.Text("Hello World"), nil))
	read(websocket.MessageText, "Hello World")
	e.must("SendToGroup(json)", e.wps.SendToGroup(ctx, "g", wps.JSON(map[string]string{"Hello": "World"}), nil))
	read(websocket.MessageText, `{"Hello":"World"}`)
	e.must("SendToAll(json string)", e.wps.SendToAll(ctx, wps.JSON("Hello World"), nil))
	read(websocket.MessageText, `"Hello World"`)
	e.must("SendToAll(binary)", e.wps.SendToAll(ctx, wps.Binary([]byte{0, 0xff, 'x'}), nil))
	read(websocket.MessageBinary, "\x00\xffx")
	e.must("CloseUserConnections", e.wps.CloseUserConnections(ctx, "plain", &wps.CloseOptions{Reason: "done"}))
	rctx, cancel := context.WithTimeout(ctx, frameTimeout)
	defer cancel()
	if _, b, err := conn.Read(rctx); err == nil {
		t.Errorf("plain client got %q after close, want the socket closed", b)
	}
}
