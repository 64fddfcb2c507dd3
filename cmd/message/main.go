// Command message is the message function as its own binary: the Lambda
// bootstrap, the Azure Functions custom handler, or a local server on $PORT
// (see pkg/faas). Configuration comes from the environment; see
// functions/message.Config.
package main

import (
	"fmt"
	"os"

	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func main() {
	cfg, err := message.LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "message:", err)
		os.Exit(2)
	}
	h, err := message.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "message:", err)
		os.Exit(2)
	}
	faas.Run(faas.Function{Name: "message", HTTP: h})
}
