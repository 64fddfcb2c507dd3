package emulator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/internal/nodetest"
)

// TestRESTErrorsWithJSSDK: what a user of Microsoft's @azure/web-pubsub
// 1.2.0 reads from a refusal (error.statusCode, error.code, error.message)
// is what Azure gives them: for an invalid filter the service answers
// application/problem+json, which the SDK does not parse, so code is unset
// and message is the body, whose message field is the service's text
// (Microsoft's own live test asserts it); an unknown connection is the
// recorded Info.Connection.NotExisted answer.
func TestRESTErrorsWithJSSDK(t *testing.T) {
	nodetest.Require(t)
	e := newEnv(t, Config{})
	js := startPeer(t, "emulator-rest.js", e.s.ConnectionString(e.base), "chat")
	text := map[string]any{"contentType": "text/plain"}
	fail := func(t *testing.T, cmd map[string]any) sdkAnswer {
		t.Helper()
		a := js.call(cmd)
		if a.OK {
			t.Fatalf("%v succeeded", cmd)
		}
		return a
	}

	t.Run("invalid filter", func(t *testing.T) {
		a := fail(t, map[string]any{"op": "sendToAll", "args": []any{"hello", map[string]any{"contentType": "text/plain", "filter": "invalid filter"}}})
		var body struct{ Code, Message, Target string }
		if err := json.Unmarshal([]byte(a.Message), &body); err != nil {
			t.Fatalf("error.message %q is not the JSON body: %v", a.Message, err)
		}
		const want = "Invalid syntax for 'invalid filter': Syntax error at position 14 in 'invalid filter'. (Parameter 'filter')"
		if a.Status != 400 || a.Code != "" || body.Message != want {
			t.Fatalf("statusCode %d, code %q, JSON.parse(message).message %q; want 400, unset, %q", a.Status, a.Code, body.Message, want)
		}
	})
	for _, tc := range []struct {
		name string
		cmd  map[string]any
	}{
		{"addConnection", map[string]any{"group": "g", "op": "addConnection", "args": []any{"xxxx"}}},
		{"grantPermission", map[string]any{"op": "grantPermission", "args": []any{"xxxx", "sendToGroup", map[string]any{"targetName": "g"}}}},
	} {
		t.Run(tc.name+" unknown connection", func(t *testing.T) {
			a := fail(t, tc.cmd)
			if a.Status != 404 || a.Code != "Info.Connection.NotExisted" || a.Message != "Connection `xxxx` is not found." {
				t.Fatalf("got %d %q %q; want 404 Info.Connection.NotExisted \"Connection `xxxx` is not found.\"", a.Status, a.Code, a.Message)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		a := fail(t, map[string]any{"op": "sendToAll", "args": []any{strings.Repeat("x", maxRESTBody+1), text}})
		if a.Status != 413 || a.Code != codeTooLarge || a.Message != "The message is larger than 1048576 bytes." {
			t.Fatalf("got %d %q %q", a.Status, a.Code, a.Message)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		other := startPeer(t, "emulator-rest.js", strings.Replace(e.s.ConnectionString(e.base), DefaultAccessKey, "not-the-key", 1), "chat")
		a := other.call(map[string]any{"op": "sendToAll", "args": []any{"hello", text}})
		if a.OK || a.Status != 401 || a.Code != codeUnauthorized || a.Message != "Unauthorized: the access token's signature does not match an access key." {
			t.Fatalf("got %+v", a)
		}
	})
}
