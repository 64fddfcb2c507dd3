package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

func init() {
	commands["token"] = command{
		summary: "print a client access URL (WEBPUBSUB_CONNECTION_STRING, WEBPUBSUB_HUB)",
		run:     runToken,
	}
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wpsfn token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var roles, groups wpsListFlag
	user := fs.String("user", "", "user id of the client (the token's subject)")
	fs.Var(&roles, "role", "role to grant, repeatable: e.g. webpubsub.joinLeaveGroup, webpubsub.sendToGroup.room1")
	fs.Var(&groups, "group", "group the client joins on connect, repeatable")
	expiry := fs.Duration("expiry", wps.DefaultClientTokenExpiry, "how long the token is valid")
	protocol := fs.String("protocol", "default", "client endpoint: default, mqtt or socketio")
	asJSON := fs.Bool("json", false, `print {"url","baseUrl","token"} instead of the URL`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wpsfn token [--user ID] [--role ROLE]... [--group NAME]... [--expiry 1h] [--protocol default|mqtt|socketio] [--json]")
		fmt.Fprintln(stderr, "\nPrints a client access URL for the hub. Reads WEBPUBSUB_CONNECTION_STRING and WEBPUBSUB_HUB.")
		printFlags(fs)
	}
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	if *expiry <= 0 {
		fmt.Fprintf(stderr, "wpsfn token: --expiry must be positive, got %v\n", *expiry)
		return 2
	}
	proto, ok := map[string]wps.ClientProtocol{"default": wps.ProtocolDefault, "mqtt": wps.ProtocolMQTT, "socketio": wps.ProtocolSocketIO}[*protocol]
	if !ok {
		fmt.Fprintf(stderr, "wpsfn token: --protocol must be default, mqtt or socketio, got %q\n", *protocol)
		return 2
	}
	for _, g := range groups {
		if !wps.ValidGroup(g) {
			fmt.Fprintf(stderr, "wpsfn token: --group %q is not a valid group name (1 to 1024 characters, not only spaces)\n", g)
			return 2
		}
	}
	client, err := wpsClient()
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn token: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, wpsTimeout)
	defer cancel()
	access, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{
		UserID: *user, Roles: roles, Groups: groups, Expiry: *expiry, Protocol: proto,
	})
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn token: %s\n", callError(err))
		return 1
	}
	if *asJSON {
		out, _ := json.Marshal(map[string]string{"url": access.URL, "baseUrl": access.BaseURL, "token": access.Token})
		fmt.Fprintln(stdout, string(out))
		return 0
	}
	fmt.Fprintln(stdout, access.URL)
	return 0
}

// wpsConfig is the configuration `wpsfn token` and `wpsfn send` read from the
// environment.
type wpsConfig struct {
	// ConnectionString of the Web PubSub resource (Keys page in the portal,
	// or what `wpsfn emulator` prints).
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING,required,notEmpty"`
	// Hub is the hub name, e.g. chat.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`
}

// wpsEnviron is the environment the commands read; tests replace it.
var wpsEnviron = os.Environ

var wpsVarHelp = map[string]string{
	"WEBPUBSUB_CONNECTION_STRING": "the Web PubSub resource's connection string, Endpoint=...;AccessKey=...;Version=1.0;",
	"WEBPUBSUB_HUB":               "the hub name, e.g. chat",
}

// wpsClient builds a client from the environment. Its error is one line
// naming the variable, never holding the connection string.
func wpsClient() (*wps.Client, error) {
	var cfg wpsConfig
	err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(wpsEnviron())})
	if err != nil {
		var notSet env.VarIsNotSetError
		var empty env.EmptyVarError
		switch {
		case errors.As(err, &notSet):
			return nil, fmt.Errorf("%s is not set (%s)", notSet.Key, wpsVarHelp[notSet.Key])
		case errors.As(err, &empty):
			return nil, fmt.Errorf("%s is empty (%s)", empty.Key, wpsVarHelp[empty.Key])
		}
		return nil, errors.New("reading WEBPUBSUB_CONNECTION_STRING and WEBPUBSUB_HUB failed")
	}
	// Checked here, not left to NewClientFromConnectionString, so each error
	// names its variable.
	if strings.ContainsAny(cfg.ConnectionString, "<>") {
		return nil, errors.New("WEBPUBSUB_CONNECTION_STRING still holds a placeholder such as <name> or <key>: use your resource's connection string (Azure portal, Keys) or the one `wpsfn dev` prints")
	}
	cs, err := wps.ParseConnectionString(cfg.ConnectionString)
	if err != nil {
		return nil, fmt.Errorf("WEBPUBSUB_CONNECTION_STRING: %w", err)
	}
	if !wps.ValidHub(cfg.Hub) {
		return nil, fmt.Errorf("WEBPUBSUB_HUB %q is not a valid hub name (a letter, then up to 127 letters, digits or _)", cfg.Hub)
	}
	// One quick retry: a command at a prompt should fail within a second
	// when nothing listens, not retry silently for several.
	return cs.NewClient(cfg.Hub, &wps.ClientOptions{UserAgent: "wpsfn-cli", Retry: wps.RetryOptions{MaxRetries: 1, Delay: 200 * time.Millisecond}})
}

// callError is the one line a failed call prints: an endpoint that cannot
// be reached is said so, with what to check.
func callError(err error) string {
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return fmt.Sprintf("cannot reach the service at %s: %v (is the emulator running, e.g. `wpsfn dev`, and WEBPUBSUB_CONNECTION_STRING right?)", ne.Addr, ne.Err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot reach the service: host %s not found (check the Endpoint in WEBPUBSUB_CONNECTION_STRING)", dnsErr.Name)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return err.Error() + " (the connection closed without an answer: is the Endpoint in WEBPUBSUB_CONNECTION_STRING a Web PubSub service or emulator?)"
	}
	return err.Error()
}

// wpsListFlag collects a repeatable string flag.
type wpsListFlag []string

func (l *wpsListFlag) String() string     { return strings.Join(*l, ",") }
func (l *wpsListFlag) Set(v string) error { *l = append(*l, v); return nil }

// wpsTimeout bounds one command's calls to the service.
const wpsTimeout = 30 * time.Second
