package cloudevents

import (
	"testing"

	"github.com/wpsfn/wpsfn/internal/assert"
)

// TestEncodeEventSource: ce-source names the connection, and for MQTT the
// network connection after it, as the service sends it.
func TestEncodeEventSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		cc   ConnectionContext
		want string
	}{
		{"WebSocket", ConnectionContext{Hub: "chat", ConnectionID: "conn1"}, "/hubs/chat/client/conn1"},
		{"MQTT", ConnectionContext{Hub: "chat", ConnectionID: "dev1", Subprotocol: "mqtt", PhysicalConnectionID: "phys1", SessionID: "s1"},
			"/hubs/chat/client/dev1/phys1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string][]string{}
			if _, err := EncodeEvent(h, &ConnectedRequest{ConnectionContext: tc.cc}); err != nil {
				t.Fatal(err)
			}
			assert.Equal(t, "ce-source", h[HeaderSource], []string{tc.want})
		})
	}
}
