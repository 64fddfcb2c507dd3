package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/wpsfn/wpsfn/web"
)

// Serve the pages with a live trace: the emulator's Trace hook publishes
// into t, and the trace page at /trace streams it from /trace/events.
func ExampleHandler() {
	t := &web.Trace{Snapshot: func() web.Snapshot { return web.Snapshot{} }}
	defer t.Close()
	srv := httptest.NewServer(web.Handler(web.Options{NegotiateURL: "/negotiate", Hub: "chat", Trace: t}))
	defer srv.Close()

	// e.g. emulator.Config{Trace: func(ev emulator.TraceEvent) { t.Publish(web.Event{...}) }}
	t.Publish(web.Event{Time: time.Now(), Kind: "connected", Hub: "chat", ConnectionID: "c1", UserID: "alice"})

	resp, err := http.Get(srv.URL + "/config.json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(string(b))
	// Output: {"negotiateUrl":"/negotiate","hub":"chat","traceUrl":"/trace/events"}
}
