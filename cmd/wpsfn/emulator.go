package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/cmd/wpsfn/internal/web"
	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/internal/shutdown"
)

func init() {
	commands["emulator"] = command{
		summary: "run the local Web PubSub emulator (client WebSockets, REST API, upstream events)",
		run:     runEmulator,
	}
}

// emulatorFile is the JSON config file of `wpsfn emulator --config`:
//
//	{
//	  "accessKey": "...", "secondaryKey": "...",
//	  "hubs": {
//	    "chat": {
//	      "allowAnonymous": false,
//	      "eventHandlers": [
//	        {"urlTemplate": "http://localhost:7071/api/{event}", "userEvents": "*",
//	         "systemEvents": ["connect", "connected", "disconnected"], "groupEvents": true}
//	      ]
//	    }
//	  }
//	}
type emulatorFile struct {
	AccessKey    string                     `json:"accessKey"`
	SecondaryKey string                     `json:"secondaryKey"`
	Hubs         map[string]emulatorFileHub `json:"hubs"`
}

type emulatorFileHub struct {
	AllowAnonymous bool                  `json:"allowAnonymous"`
	EventHandlers  []emulatorFileHandler `json:"eventHandlers"`
}

type emulatorFileHandler struct {
	URLTemplate  string   `json:"urlTemplate"`
	UserEvents   string   `json:"userEvents"`
	SystemEvents []string `json:"systemEvents"`
	GroupEvents  bool     `json:"groupEvents"`
	// Auth is the service's eventHandlers[].auth: {"type":"ManagedIdentity","resource":"api://..."}.
	Auth struct {
		Type     string `json:"type"`
		Resource string `json:"resource"`
	} `json:"auth"`
}

// hubFlag collects repeated --hub NAME=URLTEMPLATE.
type hubFlag []string

func (h *hubFlag) String() string     { return strings.Join(*h, ",") }
func (h *hubFlag) Set(v string) error { *h = append(*h, v); return nil }

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wpsfn emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "listen address")
	configPath := fs.String("config", "", "JSON config file with keys, hubs and event handlers")
	accessKey := fs.String("access-key", "", "access key (default: the emulator's fixed development key)")
	anonymous := fs.Bool("allow-anonymous", false, "let clients connect without a token on the hubs given with --hub")
	disableLocalAuth := fs.Bool("disable-local-auth", false, "like the service's disableLocalAuth: refuse key-signed REST calls and client tokens\n"+
		"(only Entra tokens of the emulator's tenant, from its managed-identity endpoint), send no ce-signature")
	verbose := fs.Bool("v", false, "log every connection and upstream call")
	tracePublic := fs.Bool("trace-public", false, "serve the live trace (/trace) to every host, not only to this machine's loopback clients")
	disableTrace := fs.Bool("disable-trace", false, "no live trace: tracing summarizes and redacts every frame, work a load test may not want")
	limits := addEmulatorLimits(fs)
	var hubs hubFlag
	fs.Var(&hubs, "hub", "NAME=URLTEMPLATE: a hub whose connect/connected/disconnected and user events\n"+
		"go to URLTEMPLATE ({hub} and {event} are substituted); repeatable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wpsfn emulator [--addr host:port] [--config file.json] [--hub NAME=URLTEMPLATE]... [--access-key KEY] [--disable-local-auth] [--trace-public | --disable-trace] [-v]")
		fmt.Fprintln(stderr, "\nRuns the Web PubSub emulator; its live trace is at /trace (this machine only unless --trace-public).")
		printFlags(fs)
	}
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	cfg, err := emulatorConfig(*configPath, *accessKey, hubs, *anonymous)
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn emulator: %v\n", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Addr = *addr
	cfg.DisableLocalAuth = *disableLocalAuth
	limits.apply(&cfg)
	var trace *web.Trace
	if !*disableTrace {
		trace = &web.Trace{Logger: cfg.Logger}
		cfg.Trace = trace.Publish
	}
	// A bad setting is what to report even when the address is also in use:
	// emulator.New checks the configuration (and starts nothing), so it is
	// asked before listening; the served one is made once the address is known.
	if _, err := emulator.New(cfg); err != nil {
		fmt.Fprintf(stderr, "wpsfn emulator: %v\n", limitError(err))
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "wpsfn emulator: listen on %s: %v\n", *addr, err)
		return 1
	}
	cfg.URL = "http://" + displayHost(*addr, ln.Addr()) // the local tenant's authority
	emu, err := emulator.New(cfg)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "wpsfn emulator: %v\n", limitError(err))
		return 2
	}
	if trace != nil {
		trace.Snapshot = emu.Snapshot
	}
	return serveEmulator(ctx, emu, trace, *tracePublic, ln, *addr, stdout, stderr)
}

// serveEmulator serves emu and its live trace on ln until ctx ends, then
// shuts down gracefully.
func serveEmulator(ctx context.Context, emu *emulator.Server, trace *web.Trace, tracePublic bool, ln net.Listener, addr string, stdout, stderr io.Writer) int {
	endpoint := "http://" + displayHost(addr, ln.Addr())
	fmt.Fprintf(stdout, "Web PubSub emulator listening on %s\n", endpoint)
	fmt.Fprintf(stdout, "Connection string: %s\n", emu.ConnectionString(endpoint))
	fmt.Fprintf(stdout, "Clients connect to %s/client/hubs/{hub}; press Ctrl-C to stop.\n", strings.Replace(endpoint, "http", "ws", 1))
	mi := emu.ManagedIdentityEnv(endpoint)
	fmt.Fprintf(stdout, "Managed identity (azidentity): IDENTITY_ENDPOINT=%s IDENTITY_HEADER=%s; tenant %s at %s\n",
		mi["IDENTITY_ENDPOINT"], mi["IDENTITY_HEADER"], emulator.LocalTenant, emulator.Authority(endpoint))
	where := "this machine only; --trace-public for every host"
	if tracePublic {
		where = "every host"
	}
	if trace != nil {
		fmt.Fprintf(stdout, "Live trace: %s/trace (%s)\n", endpoint, where)
	}
	fmt.Fprintln(stdout, "Microsoft's @azure/web-pubsub needs { allowInsecureConnection: true } for this http:// endpoint.")

	mux := http.NewServeMux()
	if trace != nil {
		pages := web.Handler(web.Options{Trace: trace, TracePublic: tracePublic})
		for _, p := range web.TracePaths {
			mux.Handle(p, pages)
		}
	}
	mux.Handle("/", emu.Handler())
	// Read and idle timeouts for every request (WebSockets are unaffected:
	// a hijacked connection's deadline is cleared); no write timeout, as the
	// trace is a long-lived stream.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	conns := shutdown.Track(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "wpsfn emulator: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err1 := emu.Shutdown(sctx)
	if trace != nil {
		trace.Close()
	}
	err2 := conns.Shutdown(sctx)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintf(stderr, "wpsfn emulator: shutdown: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "emulator stopped")
	return 0
}

// displayHost is the host:port to print: the flag's host (so the printed
// connection string stays "localhost:8080") with the real port.
func displayHost(addr string, real net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	_, port, err2 := net.SplitHostPort(real.String())
	if err != nil || err2 != nil {
		return real.String()
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// emulatorConfig merges the config file and the flags (flags win).
func emulatorConfig(path, accessKey string, hubs []string, anonymous bool) (emulator.Config, error) {
	cfg := emulator.Config{Hubs: map[string]emulator.HubSettings{}}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("--config: %w", err)
		}
		var f emulatorFile
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return cfg, fmt.Errorf("--config %s: %w", path, err)
		}
		cfg.AccessKey, cfg.SecondaryKey = f.AccessKey, f.SecondaryKey
		for name, h := range f.Hubs {
			hs := emulator.HubSettings{AllowAnonymous: h.AllowAnonymous}
			for _, eh := range h.EventHandlers {
				hs.EventHandlers = append(hs.EventHandlers, emulator.EventHandler{URLTemplate: eh.URLTemplate, UserEvents: eh.UserEvents,
					SystemEvents: eh.SystemEvents, GroupEvents: eh.GroupEvents, Auth: emulator.UpstreamAuth{Type: eh.Auth.Type, Resource: eh.Auth.Resource}})
			}
			cfg.Hubs[name] = hs
		}
	}
	if accessKey != "" {
		cfg.AccessKey = accessKey
	}
	for _, h := range hubs {
		name, tmpl, ok := strings.Cut(h, "=")
		if !ok || name == "" || tmpl == "" {
			return cfg, fmt.Errorf("--hub %q: want NAME=URLTEMPLATE", h)
		}
		hs := cfg.Hubs[name]
		hs.AllowAnonymous = hs.AllowAnonymous || anonymous
		hs.EventHandlers = append(hs.EventHandlers, emulator.EventHandler{
			URLTemplate: tmpl, UserEvents: "*", SystemEvents: []string{"connect", "connected", "disconnected"},
		})
		cfg.Hubs[name] = hs
	}
	return cfg, nil
}
