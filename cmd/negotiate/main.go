// Command negotiate is the negotiate function as its own binary: the Lambda
// bootstrap, the Azure Functions custom handler, or a local server on $PORT
// (see pkg/faas). Configuration comes from the environment; see
// functions/negotiate.Config.
package main

import (
	"fmt"
	"os"

	"github.com/wpsfn/wpsfn/functions/negotiate"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func main() {
	cfg, err := negotiate.LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "negotiate:", err)
		os.Exit(2)
	}
	h, err := negotiate.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "negotiate:", err)
		os.Exit(2)
	}
	faas.Run(faas.Function{Name: "negotiate", HTTP: h})
}
