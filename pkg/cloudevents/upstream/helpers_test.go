package upstream_test

import (
	"context"
	"io"
	"log/slog"

	. "github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// The access keys of the tests: testKey is the one the Express recordings
// were signed with.
const (
	testKey  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="
	otherKey = "secondary-key-0123456789"
)

// send posts ev to url through a Caller signing with keys.
func send(ctx context.Context, url string, ev Event, keys ...string) (*Answer, error) {
	c := &upstream.Caller{Keys: NewKeys(keys...)}
	return c.Send(ctx, url, ev)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
