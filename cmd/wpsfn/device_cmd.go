package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func init() {
	commands["device"] = command{
		summary: "run a simulated MQTT device publishing telemetry (WEBPUBSUB_CONNECTION_STRING, WEBPUBSUB_HUB)",
		run:     runDeviceCommand,
	}
}

// runDeviceCommand runs one more simulated device (device.go) against any
// Web PubSub resource or emulator, e.g. next to `wpsfn dev` and its
// dashboard, until interrupted.
func runDeviceCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wpsfn device", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", defaultDeviceID, "the device's MQTT client id and user id: 1 to 128 letters and digits")
	topic := fs.String("topic", defaultDeviceTopic, "the `topic` (the group) it publishes to")
	interval := fs.Duration("interval", defaultDeviceInterval, "time between readings (at least 10ms)")
	logLevel := fs.String("log-level", "info", "log `level`: debug (every reading), info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wpsfn device [--id sensor1] [--topic telemetry] [--interval 1s] [--log-level info]")
		fmt.Fprintln(stderr, "\nConnects to the hub's MQTT endpoint as an MQTT 5 device and publishes a JSON reading")
		fmt.Fprintln(stderr, `{"device","seq","temperature","humidity","time"} at QoS 1 until interrupted, reconnecting`)
		fmt.Fprintln(stderr, "when the connection drops. Its token (user ID, role webpubsub.sendToGroup.TOPIC) is minted")
		fmt.Fprintln(stderr, "from WEBPUBSUB_CONNECTION_STRING before each connection; WEBPUBSUB_HUB names the hub.")
		printFlags(fs)
	}
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "wpsfn device: --log-level: %q is not debug, info, warn or error\n", *logLevel)
		return 2
	}
	client, err := wpsClient()
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn device: %v\n", err)
		return 2
	}
	cfg := deviceConfig{
		ID: *id, Topic: *topic, Interval: *interval, Client: client,
		Endpoint: mqttEndpoint(client.Endpoint(), client.Hub()),
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "wpsfn device: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "wpsfn device: %s publishes to topic %s every %v through %s (Ctrl-C stops it)\n", cfg.ID, cfg.Topic, cfg.Interval, cfg.Endpoint)
	if err := runDevice(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "wpsfn device: %v\n", err)
		return 1
	}
	return 0
}

// mqttEndpoint is the hub's MQTT endpoint at a service endpoint
// (http(s)://host → ws(s)://host/clients/mqtt/hubs/{hub}).
func mqttEndpoint(endpoint, hub string) string {
	return "ws" + strings.TrimPrefix(strings.TrimSuffix(endpoint, "/"), "http") + "/" + wps.ProtocolMQTT.ClientPath(hub)
}
