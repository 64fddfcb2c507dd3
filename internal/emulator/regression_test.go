package emulator

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// A close frame's reason is cut to fit 123 bytes; cutting inside a UTF-8
// sequence makes clients (ws, browsers) fail the connection with 1006/1007
// instead of seeing the real code, e.g. a reliable client's 1008.
func TestCloseReasonTruncatedOnRuneBoundary(t *testing.T) {
	e := newEnv(t, Config{})
	for _, sub := range []string{SubprotocolJSON, SubprotocolJSONReliable} {
		c := e.connect("chat", "u", sub)
		reason := "a" + strings.Repeat("é", 70) // 141 bytes; byte 120 is inside an "é"
		st, _, body := e.rest("DELETE", "/api/hubs/chat/connections/"+c.id+"?reason="+url.QueryEscape(reason), "", nil)
		if st != 204 {
			t.Fatalf("%s: close = %d %s", sub, st, body)
		}
		code, msgs := c.closeStatus()
		if len(msgs) == 0 || msgs[len(msgs)-1]["message"] != reason {
			t.Errorf("%s: disconnected message = %v, want the full reason", sub, msgs)
		}
		var ce websocket.CloseError
		if !asCloseError(c.err, &ce) {
			t.Fatalf("%s: read error %v is not a close frame", sub, c.err)
		}
		if !utf8.ValidString(ce.Reason) || !strings.HasPrefix(reason, ce.Reason) || len(ce.Reason) < 100 {
			t.Errorf("%s: close reason %q (%d bytes) is not a valid UTF-8 prefix of the reason", sub, ce.Reason, len(ce.Reason))
		}
		want := websocket.StatusNormalClosure
		if sub == SubprotocolJSONReliable {
			want = websocket.StatusPolicyViolation
		}
		if code != want {
			t.Errorf("%s: close code %d, want %d", sub, code, want)
		}
	}
}

// A group name longer than any valid one (1024 characters) must not be
// matched against wildcard roles: the memoised matcher's table and its
// recursion grow with the name, about 128 MB of stack for a 1 MiB frame.
func TestWildcardRoleLongGroup(t *testing.T) {
	long := "team." + strings.Repeat("x", 1<<16) // far over 1024 characters
	if wildcardMatch("team.*", long) {
		t.Errorf("wildcardMatch matched a %d-character group", len(long))
	}
	if !wildcardMatch("team.*", "team."+strings.Repeat("x", 1019)) {
		t.Errorf("wildcardMatch refused a 1024-character group")
	}
	e := newEnv(t, Config{})
	c := e.connect("chat", "u", SubprotocolJSON, "webpubsub.sendToGroups.team.*")
	c.send(map[string]any{"type": "sendToGroup", "group": "team." + strings.Repeat("x", 1019), "ackId": 1, "data": 1})
	wantAck(t, c.read(), 1, "")
	c.send(map[string]any{"type": "sendToGroup", "group": "team.x.y", "ackId": 2, "data": 1})
	wantAck(t, c.read(), 2, "Forbidden")
}

func asCloseError(err error, ce *websocket.CloseError) bool { return errors.As(err, ce) }

// Group names the REST API refuses (over 1024 characters, only whitespace)
// are refused on the client protocols too, like a missing group: otherwise a
// client may fill memory with megabyte-long names no REST call can address.
func TestClientInvalidGroupName(t *testing.T) {
	e := newEnv(t, Config{})
	for _, f := range []string{
		`{"type":"joinGroup","group":"` + strings.Repeat("g", 1025) + `","ackId":1}`,
		`{"type":"leaveGroup","group":"   ","ackId":1}`,
		`{"type":"sendToGroup","group":"` + strings.Repeat("g", 1025) + `","ackId":1,"data":1}`,
	} {
		c := e.connect("chat", "u", SubprotocolJSON, "webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")
		c.sendRaw(websocket.MessageText, []byte(f))
		code, msgs := c.closeStatus()
		if code != websocket.StatusInvalidFramePayloadData || len(msgs) != 1 || msgs[0]["event"] != "disconnected" ||
			!strings.Contains(fmt.Sprint(msgs[0]["message"]), "1 to 1024 characters") {
			t.Errorf("%.40s…: close %v after %v, want 1007 after a disconnected message naming the rule", f, code, msgs)
		}
	}
	if n := len(e.s.hub("chat").snapshot().Groups); n != 0 {
		t.Errorf("%d groups exist, want none", n)
	}
	// A 1024-character name is valid.
	c := e.connect("chat", "u", SubprotocolJSON, "webpubsub.joinLeaveGroup")
	c.send(map[string]any{"type": "joinGroup", "group": strings.Repeat("g", 1024), "ackId": 1})
	wantAck(t, c.read(), 1, "")
	// The plain sendToGroup mode refuses an invalid group at the handshake.
	_, resp, err := e.dial("chat", e.token("chat", "u", "webpubsub.sendToGroup"), "", "webpubsub_mode=sendToGroup&group=%20")
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Errorf("sendToGroup mode with a blank group: err %v, status %v, want 400", err, resp)
	}
}
