package upstream_test

import (
	"context"
	"testing"

	. "github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// BenchmarkNewRequest: the service side building one signed user event, as
// the emulator does for every client message.
func BenchmarkNewRequest(b *testing.B) {
	ue := &UserEventRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "c-0123456789", UserID: "alice", RawState: "e30="},
		Data: []byte("hello, world"), DataType: DataText}
	c := &upstream.Caller{Keys: NewKeys(testKey, otherKey)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.NewRequest(ctx, "http://127.0.0.1:8080/api/message", ue); err != nil {
			b.Fatal(err)
		}
	}
}
