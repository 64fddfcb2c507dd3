// Command relay is the relay function as its own binary: the Lambda
// bootstrap for SQS, SNS and EventBridge events, the Azure Functions custom
// handler for Storage queue, Service Bus and Event Grid triggers, or a local
// server on $PORT taking envelopes (see pkg/faas). Configuration comes from
// the environment; see functions/relay.Config.
package main

import (
	"fmt"
	"os"

	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func main() {
	cfg, err := relay.LoadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
	r, err := relay.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(2)
	}
	faas.Run(r.Function())
}
