package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/wpsfn/wpsfn/cmd/wpsfn/internal/web"
	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// The telemetry demo of `wpsfn dev`: the dashboard page next to the chat,
// and the simulated device (device.go) publishing to its topic, started
// once the stack serves and stopped first at shutdown, while the emulator
// still answers its DISCONNECT.

// mountDashboard routes the dashboard's paths on mux.
func mountDashboard(mux *http.ServeMux, hub string, device bool) {
	o := web.DashboardOptions{NegotiateURL: "/negotiate", Hub: hub, Topic: defaultDeviceTopic}
	if device {
		o.Device = defaultDeviceID
	}
	h := web.Dashboard(o)
	for _, p := range web.DashboardPaths {
		mux.Handle(p, h)
	}
}

// startDevDevice runs the simulated device against st until stop is
// called; stop returns once the device has disconnected and its goroutines
// have ended. The device's tokens come from the stack's connection string,
// or, keyless, from :generateToken with the emulator's managed identity.
func startDevDevice(ctx context.Context, st *devStack, keyless bool, log *slog.Logger) (stop func(), err error) {
	var client *wps.Client
	opts := &wps.ClientOptions{UserAgent: "wpsfn-device"}
	if keyless {
		cred, err := azidentity.NewManagedIdentityCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("device: managed identity: %w", err)
		}
		client, err = wps.NewClient(st.BaseURL, st.Hub, cred, opts)
		if err != nil {
			return nil, fmt.Errorf("device: %w", err)
		}
	} else if client, err = wps.NewClientFromConnectionString(st.ConnectionString, st.Hub, opts); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	cfg := deviceConfig{
		Client:   client,
		Endpoint: mqttEndpoint(st.BaseURL, st.Hub),
		Logger:   log.With("component", "device"),
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		runDevice(dctx, cfg) // validated above: no error left
	}()
	st.Device, st.DeviceTopic = cfg.ID, cfg.Topic
	return func() {
		cancel()
		<-done
		waitSessionEnded(st, cfg.ID)
	}, nil
}

// waitSessionEnded waits (briefly) until the emulator has ended the
// device's session after its DISCONNECT, so the connect function hears the
// device's own reason ("the client sent DISCONNECT"), not the shutdown's.
func waitSessionEnded(st *devStack, id string) {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !hasConnection(st.Emulator.Snapshot(), st.Hub, id) {
			return
		}
	}
}

func hasConnection(snap emulator.Snapshot, hub, id string) bool {
	for _, h := range snap.Hubs {
		if h.Name == hub && slices.ContainsFunc(h.Connections, func(c emulator.ConnectionSnapshot) bool { return c.ID == id }) {
			return true
		}
	}
	return false
}
