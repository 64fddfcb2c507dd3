// Package wpsfn is the Google Cloud Functions entry of wpsfn: its init
// registers every function with functions-framework-go, so one source tree
// deploys each as its own function:
//
//	gcloud functions deploy wpsfn-connect --gen2 --runtime=go125 --source=. --entry-point=Connect --trigger-http
//
// Entry points: Connect, Message, Broadcast, Negotiate (HTTP), the
// scheduled broadcast both as BroadcastSchedule (HTTP, for a Cloud Scheduler
// HTTP target: each POST runs it once) and as BroadcastScheduleEvent (a
// CloudEvent function, for a Pub/Sub topic fed by Cloud Scheduler), and
// Relay (a CloudEvent function for Pub/Sub messages and other Eventarc
// events carrying envelopes; deploy it with --retry so a transient failure,
// answered 500, is redelivered).
//
// Each function reads its configuration from the environment on its first
// call, not in init: every deploy builds this whole package, and one
// function's missing settings must not fail the deploy of another. Until the
// configuration loads, calls answer 500 and the log names the variable.
//
// The code is the same as the Lambda and Azure binaries in cmd/ run through
// pkg/faas; the libraries are pkg/wps, pkg/cloudevents and functions/*.
package wpsfn

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	cesdk "github.com/cloudevents/sdk-go/v2/event" // not pkg/cloudevents: the CloudEvents SDK functions-framework-go speaks

	"github.com/wpsfn/wpsfn/functions/broadcast"
	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/functions/negotiate"
	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/faas/gcpfn"
)

// gcpEntry is one registration: the function's name (as in cmd/, azure-functions/
// and template.yaml) and its Google Cloud entry point.
type gcpEntry struct {
	Name       string // function name, e.g. "broadcast-schedule"
	EntryPoint string // --entry-point, e.g. "BroadcastSchedule"
	CloudEvent bool   // registered with functions.CloudEvent instead of functions.HTTP
}

// gcpEntries lists every registration, in the order init makes them.
var gcpEntries = []gcpEntry{
	{"connect", "Connect", false},
	{"message", "Message", false},
	{"broadcast", "Broadcast", false},
	{"broadcast-schedule", "BroadcastSchedule", false},
	{"broadcast-schedule", "BroadcastScheduleEvent", true},
	{"negotiate", "Negotiate", false},
	{"relay", "Relay", true},
}

func init() {
	functions.HTTP("Connect", lazyHTTP("connect", fromEnv(connect.LoadConfig, connect.New)))
	functions.HTTP("Message", lazyHTTP("message", fromEnv(message.LoadConfig, message.New)))
	functions.HTTP("Broadcast", lazyHTTP("broadcast", fromEnv(broadcast.LoadConfig, broadcast.New)))
	functions.HTTP("Negotiate", lazyHTTP("negotiate", fromEnv(negotiate.LoadConfig, negotiate.New)))
	functions.HTTP("BroadcastSchedule", lazyHTTP("broadcast-schedule", func() (http.Handler, error) {
		fn, err := scheduleFunction()
		if err != nil {
			return nil, err
		}
		return faas.Handler(fn, faas.HostGCP), nil
	}))
	functions.CloudEvent("BroadcastScheduleEvent", broadcastScheduleEvent)
	functions.CloudEvent("Relay", relayEvent)
}

// fromEnv builds an HTTP function from its configuration in the environment.
func fromEnv[C any](load func() (C, error), build func(C) (http.Handler, error)) func() (http.Handler, error) {
	return func() (http.Handler, error) {
		cfg, err := load()
		if err != nil {
			return nil, err
		}
		return build(cfg)
	}
}

// lazyHTTP builds the handler with build on the first call and serves every
// call with it; a build error is logged on each call (naming the variable at
// fault, never its value) and answered 500 without detail.
func lazyHTTP(name string, build func() (http.Handler, error)) func(http.ResponseWriter, *http.Request) {
	load := sync.OnceValues(func() (http.Handler, error) {
		h, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		fn := faas.Function{Name: name, HTTP: h}
		return faas.Handler(fn, faas.HostGCP), nil
	})
	return func(w http.ResponseWriter, r *http.Request) {
		h, err := load()
		if err != nil {
			slog.ErrorContext(r.Context(), "function not configured", "function", name, "error", err.Error())
			http.Error(w, name+": function not configured (see its logs)", http.StatusInternalServerError)
			return
		}
		h.ServeHTTP(w, r)
	}
}

// scheduleFunction loads broadcast-schedule once per instance.
var scheduleFunction = sync.OnceValues(func() (faas.Function, error) {
	cfg, err := broadcast.LoadScheduleConfig()
	if err != nil {
		return faas.Function{}, fmt.Errorf("broadcast-schedule: %w", err)
	}
	run, err := broadcast.NewSchedule(cfg)
	if err != nil {
		return faas.Function{}, fmt.Errorf("broadcast-schedule: %w", err)
	}
	return faas.Function{Name: "broadcast-schedule", Scheduled: func(ctx context.Context, ev faas.ScheduleEvent) error {
		return run(ctx, ev.Time)
	}}, nil
})

// broadcastScheduleEvent runs the scheduled broadcast for a Pub/Sub message
// (Cloud Scheduler's Pub/Sub target); see gcpfn.RunScheduled.
func broadcastScheduleEvent(ctx context.Context, e cesdk.Event) error {
	fn, err := scheduleFunction()
	if err != nil {
		slog.ErrorContext(ctx, "function not configured", "function", "broadcast-schedule", "error", err.Error())
		return err
	}
	return gcpfn.RunScheduled(ctx, fn, e)
}

// relayFunction loads the relay once per instance: its dedupe window lives
// as long as the instance.
var relayFunction = sync.OnceValues(func() (faas.Function, error) {
	cfg, err := relay.LoadConfig()
	if err != nil {
		return faas.Function{}, fmt.Errorf("relay: %w", err)
	}
	r, err := relay.New(cfg)
	if err != nil {
		return faas.Function{}, fmt.Errorf("relay: %w", err)
	}
	return r.Function(), nil
})

// relayEvent forwards the envelope a Pub/Sub message (or another Eventarc
// event) carries. Its error, answered 500 by functions-framework-go, is a
// transient failure: Pub/Sub redelivers when the function was deployed
// with --retry. Permanent failures are logged and return nil.
func relayEvent(ctx context.Context, e cesdk.Event) error {
	fn, err := relayFunction()
	if err != nil {
		slog.ErrorContext(ctx, "function not configured", "function", "relay", "error", err.Error())
		return err
	}
	return gcpfn.RunMessage(ctx, fn, e)
}
