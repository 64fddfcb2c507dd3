package faas_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

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
				fmt.Printf("tick from %s with %s\n", ev.Host, ev.Raw)
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
