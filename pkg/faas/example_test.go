package faas_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/pkg/faas"
)

// A function's main: Run finds the host (Lambda, Azure custom handler, or a
// local server on $PORT) and serves until SIGTERM.
func ExampleRun() {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	if false { // Run never returns on Lambda; keep the example from serving.
		faas.Run(faas.Function{Name: "hello", HTTP: hello})
	}
}

// Serve is the local mode on a listener of your own; a scheduled function
// runs once per POST /.
func ExampleServe() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- faas.Serve(ctx, ln, faas.Function{
			Name: "tick",
			Scheduled: func(ctx context.Context, ev faas.ScheduleEvent) error {
				fmt.Printf("tick from %s with %s\n", ev.Source, ev.Raw)
				return nil
			},
		})
	}()
	resp, err := http.Post("http://"+ln.Addr().String()+"/", "application/json", strings.NewReader(`{"task":"x"}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	cancel()
	fmt.Println("Serve returned", <-done)
	// Output:
	// tick from local with {"task":"x"}
	// 204 No Content
	// Serve returned <nil>
}

// ParseTime reads the timestamps the Azure Functions host writes.
func ExampleParseTime() {
	for _, s := range []string{"2026-09-24T13:08:00.0096035+00:00", "9/24/2026 1:08:00 PM", "/Date(1790255280000)/"} {
		t, _ := faas.ParseTime(s)
		fmt.Println(t.Format(time.RFC3339Nano))
	}
	// Output:
	// 2026-09-24T13:08:00.0096035Z
	// 2026-09-24T13:08:00Z
	// 2026-09-24T13:08:00Z
}
