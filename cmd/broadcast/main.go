// Command broadcast is the broadcast function as its own binary: the Lambda
// bootstrap, the Azure Functions custom handler, or a local server on $PORT
// (see pkg/faas). Configuration comes from the environment; see
// functions/broadcast.Config.
package main

import (
	"fmt"
	"os"

	"github.com/wpsfn/wpsfn/functions/broadcast"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func main() {
	cfg, err := broadcast.LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadcast:", err)
		os.Exit(2)
	}
	h, err := broadcast.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadcast:", err)
		os.Exit(2)
	}
	faas.Run(faas.Function{Name: "broadcast", HTTP: h})
}
