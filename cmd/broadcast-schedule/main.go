// Command broadcast-schedule is the scheduled broadcast as its own binary:
// an EventBridge-scheduled Lambda, an Azure Functions timer trigger, or a
// local server on $PORT where POST / runs one tick (see pkg/faas).
// Configuration comes from the environment; see functions/broadcast.ScheduleConfig.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/wpsfn/wpsfn/functions/broadcast"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func main() {
	cfg, err := broadcast.LoadScheduleConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadcast-schedule:", err)
		os.Exit(2)
	}
	tick, err := broadcast.NewSchedule(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broadcast-schedule:", err)
		os.Exit(2)
	}
	faas.Run(faas.Function{Name: "broadcast-schedule", Scheduled: func(ctx context.Context, ev faas.ScheduleEvent) error {
		return tick(ctx, ev.Time)
	}})
}
