// Command connect is the connect function as its own binary: the Lambda
// bootstrap, the Azure Functions custom handler, or a local server on $PORT
// (see pkg/faas). Configuration comes from the environment; see
// functions/connect.Config.
package main

import (
	"fmt"
	"os"

	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func main() {
	cfg, err := connect.LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(2)
	}
	h, err := connect.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(2)
	}
	faas.Run(faas.Function{Name: "connect", HTTP: h})
}
