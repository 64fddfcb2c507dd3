package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/wpsfn/wpsfn/cmd/wpsfn/internal/web"
	"github.com/wpsfn/wpsfn/internal/emulator"
)

// Serve the pages with a live trace: the emulator's Trace hook publishes
// into t, and the trace page at /trace streams it from /trace/events.
func ExampleHandler() {
	t := &web.Trace{}
	defer t.Close()
	srv := httptest.NewServer(web.Handler(web.Options{NegotiateURL: "/negotiate", Hub: "chat", Trace: t}))
	defer srv.Close()

	// As `wpsfn dev` does: emulator.Config{Trace: t.Publish}, Trace.Snapshot = emu.Snapshot.
	t.Publish(emulator.TraceEvent{Time: time.Now(), Kind: "connected", Hub: "chat", ConnectionID: "c1", UserID: "alice"})

	resp, err := http.Get(srv.URL + "/config.json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(string(b))
	// Output: {"negotiateUrl":"/negotiate","hub":"chat","traceUrl":"/trace/events","limits":{}}
}
