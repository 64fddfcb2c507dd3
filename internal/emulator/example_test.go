package emulator_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/wpsfn/wpsfn/internal/emulator"
)

// An emulator with one hub whose events go to a local function, served on
// the service's usual single port.
func ExampleNew() {
	emu, err := emulator.New(emulator.Config{
		Hubs: map[string]emulator.HubSettings{
			"chat": {EventHandlers: []emulator.EventHandler{{
				URLTemplate:  "http://localhost:7071/api/{event}",
				UserEvents:   "*",
				SystemEvents: []string{"connect", "connected", "disconnected"},
			}}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // `wpsfn emulator` uses localhost:8080
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: emu.Handler()}
	go srv.Serve(ln)

	// The connection string for applications (pkg/wps, the Azure SDKs).
	fmt.Println(emu.ConnectionString("http://localhost:8080"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	emu.Shutdown(ctx) // clients get a disconnected message
	srv.Shutdown(ctx)
	// Output: Endpoint=http://localhost:8080;AccessKey=d3BzZm4tZW11bGF0b3ItZGV2LWtleS1ub3Qtc2VjcmV0;Version=1.0;
}
