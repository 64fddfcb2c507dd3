package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/wpsfn/wpsfn/cmd/wpsfn/internal/web"
	"github.com/wpsfn/wpsfn/functions/broadcast"
	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/functions/negotiate"
	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/internal/shutdown"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

func init() {
	commands["dev"] = command{
		summary: "run the emulator, the functions as its event handlers, and the chat, trace and dashboard pages",
		run:     runDevCommand,
	}
}

// devOptions configures the local development stack.
type devOptions struct {
	// Addr is the emulator's (and the pages') listen address.
	Addr string
	// PortBase is the first loopback port of the functions (connect, message,
	// broadcast, negotiate, broadcast-schedule, relay, in that order); 0 picks
	// free ports.
	PortBase int
	// Hub is the hub the functions serve.
	Hub string
	// Heartbeat, when positive, runs the scheduled broadcast at this interval.
	Heartbeat time.Duration
	// Environ holds function settings (CONNECT_*, MESSAGE_*, NEGOTIATE_*,
	// BROADCAST_*); the service settings are always the emulator's.
	Environ map[string]string
	// Keyless runs the stack with no key at all: the emulator with
	// disableLocalAuth, REST through azidentity's ManagedIdentityCredential
	// against the emulator's managed-identity endpoint, and the event
	// handlers' upstream calls authenticated by the emulator tenant's Entra
	// token, verified by cloudevents.EntraAuthenticator. It sets
	// IDENTITY_ENDPOINT and IDENTITY_HEADER in the process environment
	// (azidentity reads them there).
	Keyless bool
	// Device runs the simulated telemetry device (device_dev.go) that the
	// dashboard page shows.
	Device bool
	// Limits are the emulator's size, count and duration flags.
	Limits emulatorLimits
	// Logger receives the emulator's and the functions' log lines.
	Logger *slog.Logger
	// Ready, when set, is called once everything serves.
	Ready func(*devStack)
	// ShutdownTimeout bounds each shutdown step (default 5 s).
	ShutdownTimeout time.Duration
}

// devStack describes a running development stack.
type devStack struct {
	Emulator         *emulator.Server
	Trace            *web.Trace
	BaseURL          string // the emulator and the pages, e.g. http://localhost:8080
	ConnectionString string
	Hub              string
	BroadcastSecret  string
	Keyless          bool
	// Functions maps each function's name to its base URL (http://127.0.0.1:port).
	Functions map[string]string
	// Device is the simulated device's client id and DeviceTopic its topic
	// ("" when it does not run).
	Device, DeviceTopic string
}

// The functions in port order (PortBase+i).
var devFunctions = []string{"connect", "message", "broadcast", "negotiate", "broadcast-schedule", "relay"}

func runDevCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wpsfn dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "listen `address` of the emulator and the pages")
	portBase := fs.Int("port-base", 7071, "first loopback `port` of the functions (connect, message, broadcast, negotiate, broadcast-schedule, relay); 0 picks free ports")
	hub := fs.String("hub", "chat", "the `hub` the functions serve")
	heartbeat := fs.Duration("heartbeat", 0, "run the scheduled broadcast (a heartbeat to all clients) at this `interval`, e.g. 10s; 0 disables")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	keyless := fs.Bool("keyless", false, "no key at all: the emulator with disableLocalAuth, the functions on its managed identity and Entra tokens")
	limits := addEmulatorLimits(fs)
	device := fs.Bool("device", true, "run a simulated MQTT device publishing telemetry to topic "+defaultDeviceTopic+" every second (shown at /dashboard)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wpsfn dev [flags]")
		fmt.Fprintln(stderr, "\nStarts the local Web PubSub emulator, serves the connect, message, broadcast, negotiate,")
		fmt.Fprintln(stderr, "broadcast-schedule and relay functions on loopback ports (connect and message as its event")
		fmt.Fprintln(stderr, "handlers, all through pkg/faas's local mode), and serves the demo chat page and the live trace")
		fmt.Fprintln(stderr, "page. Function settings (CONNECT_*, MESSAGE_*, NEGOTIATE_*, BROADCAST_*, RELAY_*) are read from")
		fmt.Fprintln(stderr, "the environment; the service settings are the emulator's.")
		fmt.Fprintln(stderr, "A simulated MQTT device publishes telemetry that the dashboard page (/dashboard) shows live.")
		fmt.Fprintln(stderr, "\nflags:")
		printFlags(fs)
	}
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "wpsfn dev: --log-level: %q is not debug, info, warn or error\n", *logLevel)
		return 2
	}
	if *portBase < 0 || *portBase > 65535-len(devFunctions) {
		fmt.Fprintf(stderr, "wpsfn dev: --port-base: %d is not a port number\n", *portBase)
		return 2
	}
	if *heartbeat < 0 || (*heartbeat > 0 && *heartbeat < 100*time.Millisecond) {
		fmt.Fprintln(stderr, "wpsfn dev: --heartbeat: must be 0 (off) or at least 100ms")
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger) // pkg/faas logs through the default logger
	opts := devOptions{
		Addr: *addr, PortBase: *portBase, Hub: *hub, Heartbeat: *heartbeat, Keyless: *keyless, Device: *device, Limits: *limits,
		Environ: functionEnviron(os.Environ()), Logger: logger,
		Ready: func(st *devStack) { printDevBanner(stdout, st, *heartbeat) },
	}
	if err := runDev(ctx, opts); err != nil {
		fmt.Fprintf(stderr, "wpsfn dev: %v\n", err)
		var ce *devConfigError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	return 0
}

// functionEnviron keeps the process environment's function settings. The
// service settings (connection string, hub) are never taken from it: a
// developer's real Azure connection string must not leak into the emulator.
func functionEnviron(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		for _, p := range []string{"CONNECT_", "MESSAGE_", "NEGOTIATE_", "BROADCAST_", "RELAY_"} {
			if strings.HasPrefix(k, p) {
				m[k] = v
			}
		}
	}
	return m
}

// devConfigError is a bad setting (exit status 2).
type devConfigError struct{ err error }

func (e *devConfigError) Error() string { return e.err.Error() }
func (e *devConfigError) Unwrap() error { return e.err }

// runDev serves the whole local stack until ctx ends, then shuts it down in
// order: the emulator first (its clients get a disconnected message and the
// connect function still receives their disconnected events), then the
// pages, then the functions.
func runDev(ctx context.Context, opts devOptions) (err error) {
	if opts.Hub == "" {
		opts.Hub = "chat"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger

	// The settings first (a bad one is what to report, even on an address in
	// use: emulator.New checks them and starts nothing), then listen on
	// everything, so the event handler URLs are known (and reachable) before
	// the emulator starts.
	probe := emulator.Config{}
	opts.Limits.apply(&probe)
	if _, err := emulator.New(probe); err != nil {
		return &devConfigError{limitError(err)}
	}
	mainLn, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: %w (is another wpsfn dev or emulator running? --addr picks another address)", opts.Addr, err)
		}
		return fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	var lns []net.Listener
	defer func() {
		if err != nil {
			mainLn.Close()
			for _, ln := range lns {
				ln.Close()
			}
		}
	}()
	fnURL := map[string]string{}
	for i, name := range devFunctions {
		port := 0
		if opts.PortBase > 0 {
			port = opts.PortBase + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("listen for the %s function: %w (--port-base %d is taken from there on; another --port-base, or 0 for free ports)", name, err, opts.PortBase)
			}
			return fmt.Errorf("listen for the %s function (--port-base %d): %w", name, opts.PortBase, err)
		}
		lns = append(lns, ln)
		fnURL[name] = "http://" + ln.Addr().String()
	}
	baseURL := "http://" + endpointHost(opts.Addr, mainLn.Addr())

	trace := &web.Trace{Logger: log}
	var upstreamAuth emulator.UpstreamAuth
	var logins []emulator.LoginClient
	var pageLogin *web.Login
	if opts.Keyless {
		upstreamAuth = emulator.UpstreamAuth{Type: "ManagedIdentity", Resource: devEventsResource}
		logins, pageLogin = devLogin(baseURL)
	}
	emuCfg := emulator.Config{
		Logger: log.With("component", "emulator"),
		Hubs: map[string]emulator.HubSettings{
			opts.Hub: {EventHandlers: []emulator.EventHandler{
				{
					URLTemplate:  fnURL["connect"] + "/api/connect/{event}",
					SystemEvents: []string{"connect", "connected", "disconnected"},
					// The connect function learns the groups a client joins
					// from these, to announce its leave to them.
					GroupEvents: true,
					Auth:        upstreamAuth,
				},
				{
					URLTemplate: fnURL["message"] + "/api/message/{event}",
					UserEvents:  "*",
					Auth:        upstreamAuth,
				},
			}},
		},
		Trace:            trace.Publish,
		DisableLocalAuth: opts.Keyless,
		LoginClients:     logins,
		URL:              baseURL,
	}
	opts.Limits.apply(&emuCfg)
	emu, err := emulator.New(emuCfg)
	if err != nil {
		return &devConfigError{limitError(err)}
	}
	trace.Snapshot = emu.Snapshot
	connStr := emu.ConnectionString(baseURL)

	environ := opts.Environ
	if opts.Keyless {
		for k, v := range emu.ManagedIdentityEnv(baseURL) {
			os.Setenv(k, v)
		}
		environ = keylessEnviron(environ, baseURL)
		connStr = ""
	}
	fns, secret, limits, err := devFunctionSet(connStr, opts.Hub, environ, log)
	if err != nil {
		return &devConfigError{err}
	}

	// The functions run until the emulator has shut down (see below).
	fnCtx, stopFns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFns()
	var wg sync.WaitGroup
	fnErr := make(chan error, len(fns))
	for i, name := range devFunctions {
		fn := fns[name]
		ln := lns[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := faas.Serve(fnCtx, ln, fn); err != nil {
				fnErr <- fmt.Errorf("function %s: %w", fn.Name, err)
			}
		}()
	}

	negURL, _ := url.Parse(fnURL["negotiate"] + "/api/negotiate")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.URL.Path, pr.Out.URL.RawPath = negURL.Scheme, negURL.Host, negURL.Path, ""
			pr.Out.Host = negURL.Host
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("negotiate function unreachable", "err", err)
			http.Error(w, "negotiate function unreachable", http.StatusBadGateway)
		},
	}
	pages := web.Handler(web.Options{NegotiateURL: "/negotiate", Hub: opts.Hub, Limits: limits, Trace: trace, Login: pageLogin})
	mux := http.NewServeMux()
	for _, p := range web.Paths {
		mux.Handle(p, pages)
	}
	mountDashboard(mux, opts.Hub, opts.Device) // device_dev.go
	mux.Handle("GET /negotiate", proxy)
	mux.Handle("/", emu.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// The whole request, body included (the emulator's REST API bounds
		// its bodies itself too); WebSockets are unaffected, as a hijacked
		// connection's deadline is cleared. No write timeout: the trace page
		// is a long-lived stream.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	conns := shutdown.Track(srv)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(mainLn) }()

	st := &devStack{
		Emulator: emu, Trace: trace, BaseURL: baseURL, ConnectionString: connStr,
		Hub: opts.Hub, BroadcastSecret: secret, Functions: fnURL, Keyless: opts.Keyless,
	}
	hbDone := make(chan struct{})
	hbCtx, stopHB := context.WithCancel(ctx)
	go func() {
		defer close(hbDone)
		if opts.Heartbeat > 0 {
			runHeartbeat(hbCtx, opts.Heartbeat, fnURL["broadcast-schedule"], log)
		}
	}()
	stopDevice := func() {}
	if opts.Device {
		var derr error
		if stopDevice, derr = startDevDevice(ctx, st, opts.Keyless, log); derr != nil {
			log.Warn("the simulated device does not run", "err", derr)
			stopDevice = func() {}
		}
	}
	if opts.Ready != nil {
		opts.Ready(st)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		runErr = fmt.Errorf("server: %w", err)
	case err := <-fnErr:
		runErr = err
	}

	log.Info("shutting down")
	stopHB()
	<-hbDone
	stopDevice() // it disconnects while the emulator still serves
	// Bounded: the disconnected events it sends may still be retrying.
	grace := opts.ShutdownTimeout
	if grace <= 0 {
		grace = 5 * time.Second
	}
	ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer ecancel()
	if err := emu.Shutdown(ectx); err != nil {
		log.Warn("emulator shutdown", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	trace.Close()
	if err := conns.Shutdown(sctx); err != nil {
		log.Warn("server shutdown", "err", err)
		srv.Close()
	}
	stopFns()
	wg.Wait()
	return runErr
}

// endpointHost is the host:port the connection string names: the address as
// given (so "localhost:8080" stays "localhost"), with the port actually bound.
func endpointHost(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(bound.String())
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// devFunctionSet builds the functions from their packages, configured like
// their binaries (env tags and defaults) from environ, with the emulator's
// connection string and hub and the negotiate function's development mode.
func devFunctionSet(connStr, hub string, environ map[string]string, log *slog.Logger) (map[string]faas.Function, string, web.ChatLimits, error) {
	e := map[string]string{}
	for k, v := range environ {
		e[k] = v
	}
	if connStr != "" {
		e["WEBPUBSUB_CONNECTION_STRING"] = connStr
	}
	e["WEBPUBSUB_HUB"] = hub
	// Local development: the page signs in with a name (a NEGOTIATE_JWT_SECRET
	// set in the environment still lets bearer tokens be tried).
	_, userSet := e["NEGOTIATE_ALLOW_QUERY_USER"]
	if !userSet { // keyless mode sets it false
		e["NEGOTIATE_ALLOW_QUERY_USER"] = "true"
	}
	secret := e["BROADCAST_SECRET"]
	if secret == "" {
		var b [16]byte
		rand.Read(b[:])
		secret = hex.EncodeToString(b[:])
		e["BROADCAST_SECRET"] = secret
	}
	parse := func(cfg any) error {
		err := env.ParseWithOptions(cfg, env.Options{Environment: e})
		if err == nil {
			return nil
		}
		// Name the variable, never its value.
		var pe env.ParseError
		if errors.As(err, &pe) {
			if f, ok := reflect.TypeOf(cfg).Elem().FieldByName(pe.Name); ok {
				key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				return fmt.Errorf("%s: not a valid %s", key, pe.Type)
			}
		}
		return err
	}

	var (
		cc connect.Config
		mc message.Config
		bc broadcast.Config
		nc negotiate.Config
		sc broadcast.ScheduleConfig
		rc relay.Config
	)
	for _, c := range []any{&cc, &mc, &bc, &nc, &sc, &rc} {
		if err := parse(c); err != nil {
			return nil, "", web.ChatLimits{}, fmt.Errorf("function settings: %w", err)
		}
	}
	cc.Logger = log.With("function", "connect")
	mc.Logger = log.With("function", "message")
	bc.Logger = log.With("function", "broadcast")
	nc.Logger = log.With("function", "negotiate")
	if !userSet {
		nc.Logger = slog.New(quietQueryUserWarning{nc.Logger.Handler()})
	}
	sc.Logger = log.With("function", "broadcast-schedule")
	rc.Logger = log.With("function", "relay")

	fns := map[string]faas.Function{}
	var err error
	var h http.Handler
	if h, err = connect.New(cc); err != nil {
		return nil, "", web.ChatLimits{}, fmt.Errorf("connect function: %w", err)
	}
	fns["connect"] = faas.Function{Name: "connect", HTTP: h}
	if h, err = message.New(mc); err != nil {
		return nil, "", web.ChatLimits{}, fmt.Errorf("message function: %w", err)
	}
	fns["message"] = faas.Function{Name: "message", HTTP: h}
	if h, err = broadcast.New(bc); err != nil {
		return nil, "", web.ChatLimits{}, fmt.Errorf("broadcast function: %w", err)
	}
	fns["broadcast"] = faas.Function{Name: "broadcast", HTTP: h}
	if h, err = negotiate.New(nc); err != nil {
		return nil, "", web.ChatLimits{}, fmt.Errorf("negotiate function: %w", err)
	}
	fns["negotiate"] = faas.Function{Name: "negotiate", HTTP: h}
	tick, err := broadcast.NewSchedule(sc)
	if err != nil {
		return nil, "", web.ChatLimits{}, fmt.Errorf("broadcast-schedule function: %w", err)
	}
	fns["broadcast-schedule"] = faas.Function{
		Name:      "broadcast-schedule",
		Scheduled: func(ctx context.Context, ev faas.ScheduleEvent) error { return tick(ctx, ev.Time) },
	}
	rl, err := relay.New(rc)
	if err != nil {
		return nil, "", web.ChatLimits{}, fmt.Errorf("relay function: %w", err)
	}
	fns["relay"] = rl.Function()
	// The effective limits (a zero field means the package's default), so
	// the page checks exactly what the function will.
	limits := web.ChatLimits{
		MaxTextRunes: cmp.Or(mc.MaxTextRunes, message.DefaultMaxTextRunes),
		MaxBytes:     cmp.Or(mc.MaxBytes, message.DefaultMaxBytes),
		RoomPattern:  cmp.Or(mc.RoomPattern, message.DefaultRoomPattern),
	}
	return fns, secret, limits, nil
}

// quietQueryUserWarning drops the negotiate function's warning that
// NEGOTIATE_ALLOW_QUERY_USER is on, for when wpsfn dev turned it on itself:
// there it is the point (the banner says "development mode"), and a warning
// as the first line of `make run` reads as something gone wrong. Set in the
// environment by the user, the warning stays.
type quietQueryUserWarning struct{ slog.Handler }

func (h quietQueryUserWarning) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.HasPrefix(r.Message, "NEGOTIATE_ALLOW_QUERY_USER is on") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietQueryUserWarning) WithAttrs(as []slog.Attr) slog.Handler {
	return quietQueryUserWarning{h.Handler.WithAttrs(as)}
}

func (h quietQueryUserWarning) WithGroup(name string) slog.Handler {
	return quietQueryUserWarning{h.Handler.WithGroup(name)}
}

// runHeartbeat triggers the scheduled broadcast every interval the way a
// scheduler would: over HTTP, through the function's local mode.
func runHeartbeat(ctx context.Context, interval time.Duration, fnBase string, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	client := &http.Client{Timeout: 10 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fnBase+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("heartbeat failed", "err", err)
			}
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			log.Warn("heartbeat failed", "status", resp.StatusCode)
		}
	}
}

func printDevBanner(w io.Writer, st *devStack, heartbeat time.Duration) {
	wsBase := "ws" + strings.TrimPrefix(st.BaseURL, "http")
	fmt.Fprintf(w, "\nwpsfn dev: a local Web PubSub emulator with the functions as its event handlers\n\n")
	fmt.Fprintf(w, "  Chat         %s/            (open it in two tabs)\n", st.BaseURL)
	fmt.Fprintf(w, "  Live trace   %s/trace\n", st.BaseURL)
	if st.Device != "" {
		fmt.Fprintf(w, "  Dashboard    %s/dashboard   (device %s publishes telemetry over MQTT to topic %s every second)\n", st.BaseURL, st.Device, st.DeviceTopic)
	} else {
		fmt.Fprintf(w, "  Dashboard    %s/dashboard   (shows what MQTT clients publish to topic %s)\n", st.BaseURL, defaultDeviceTopic)
	}
	fmt.Fprintf(w, "  Emulator     %s   clients: %s/client/hubs/%s   REST: %s/api/\n", st.BaseURL, wsBase, st.Hub, st.BaseURL)
	fmt.Fprintf(w, "  MQTT         %s/clients/mqtt/hubs/%s   (a client URL: wpsfn token --protocol mqtt --user ID --role webpubsub.sendToGroup.%s)\n", wsBase, st.Hub, defaultDeviceTopic)
	// Printed as commands, so pasting them sets what wpsfn send/token and the
	// SDKs read (a bare VAR=value would not reach a child process).
	if st.Keyless {
		mi := st.Emulator.ManagedIdentityEnv(st.BaseURL)
		fmt.Fprintf(w, "\n  export WEBPUBSUB_ENDPOINT=%s\n", st.BaseURL)
		fmt.Fprintf(w, "  export WEBPUBSUB_HUB=%s\n", st.Hub)
		fmt.Fprintf(w, "  export IDENTITY_ENDPOINT=%s IDENTITY_HEADER=%s   # no key works (disableLocalAuth): azidentity's ManagedIdentityCredential gets tokens here\n",
			mi["IDENTITY_ENDPOINT"], mi["IDENTITY_HEADER"])
	} else {
		fmt.Fprintf(w, "\n  export WEBPUBSUB_CONNECTION_STRING='%s'\n", st.ConnectionString)
		fmt.Fprintf(w, "  export WEBPUBSUB_HUB=%s\n", st.Hub)
	}
	fmt.Fprintf(w, "\n  Functions (the event handlers of hub %q, each served by pkg/faas's local mode):\n", st.Hub)
	fmt.Fprintf(w, "    connect             %s/api/connect/{event}   system events connect, connected, disconnected; group events\n", st.Functions["connect"])
	fmt.Fprintf(w, "    message             %s/api/message/{event}   user events *\n", st.Functions["message"])
	if st.Keyless {
		fmt.Fprintf(w, "    negotiate           %s/api/negotiate   Authorization: Bearer <a token of the local tenant's sign-in>\n", st.Functions["negotiate"])
	} else {
		fmt.Fprintf(w, "    negotiate           %s/api/negotiate?userId=NAME   (development mode; the chat page uses it via %s/negotiate)\n", st.Functions["negotiate"], st.BaseURL)
	}
	fmt.Fprintf(w, "    broadcast           %s/api/broadcast   Authorization: Bearer %s\n", st.Functions["broadcast"], st.BroadcastSecret)
	if heartbeat > 0 {
		fmt.Fprintf(w, "    broadcast-schedule  %s/   runs every %s (POST to run it once)\n", st.Functions["broadcast-schedule"], heartbeat)
	} else {
		fmt.Fprintf(w, "    broadcast-schedule  %s/   POST to run it once: a heartbeat, the chat page's ♥ (--heartbeat 10s runs it on a timer)\n", st.Functions["broadcast-schedule"])
	}
	fmt.Fprintf(w, "    relay               %s/   POST an envelope (a queued event) or an SQS, SNS or EventBridge event\n", st.Functions["relay"])
	fmt.Fprintf(w, "\n  Try:  curl -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"to\":\"all\",\"text\":\"hello\"}' %s/api/broadcast\n", st.BroadcastSecret, st.Functions["broadcast"])
	fmt.Fprintf(w, "        curl -d '{\"to\":\"all\",\"text\":\"order 42 shipped\"}' %s/   # the relay, given what a queue would deliver\n", st.Functions["relay"])
	fmt.Fprintf(w, "  SDKs: Microsoft's @azure/web-pubsub needs { allowInsecureConnection: true } for this http:// endpoint.\n")
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n\n")
}

// devEventsResource is the auth resource of the hub's handlers in keyless
// mode: the audience of the tokens the emulator sends upstream.
const devEventsResource = "api://wpsfn-dev-events"

// keylessEnviron adds to environ the settings of every function for the
// emulator's managed identity and tenant at base.
func keylessEnviron(environ map[string]string, base string) map[string]string {
	e := map[string]string{}
	for k, v := range environ {
		e[k] = v
	}
	for k, v := range map[string]string{
		"WEBPUBSUB_ENDPOINT": base, "WEBPUBSUB_CREDENTIAL": "managed-identity",
		"WEBPUBSUB_EVENTS_AUTH": "entra", "AZURE_TENANT_ID": emulator.LocalTenant,
		"WEBPUBSUB_EVENTS_AUDIENCES": devEventsResource, "WEBPUBSUB_EVENTS_CALLERS": emulator.ServiceIdentity,
		"WEBPUBSUB_EVENTS_AUTHORITY": base,
		// The chat page signs in through the emulator's tenant; negotiate
		// takes only its tokens.
		"NEGOTIATE_ALLOW_QUERY_USER": "false", "NEGOTIATE_OIDC_ISSUER": emulator.Authority(base),
		"NEGOTIATE_OIDC_AUDIENCES": devLoginClient,
	} {
		e[k] = v
	}
	return e
}

// devLoginClient is the chat page's client id at the emulator's tenant.
const devLoginClient = "wpsfn-dev-chat"

// devLogin registers the chat page with the emulator's sign-in (its
// redirect URI is the page itself, also under 127.0.0.1 for localhost) and
// tells the page to use it.
func devLogin(base string) ([]emulator.LoginClient, *web.Login) {
	uris := []string{base + "/"}
	if u, err := url.Parse(base); err == nil && u.Hostname() == "localhost" {
		uris = append(uris, "http://127.0.0.1:"+u.Port()+"/")
	}
	disc, err := url.Parse(emulator.Authority(base) + "/.well-known/openid-configuration")
	if err != nil {
		return nil, nil
	}
	return []emulator.LoginClient{{ID: devLoginClient, RedirectURIs: uris}},
		&web.Login{Discovery: disc.Path, ClientID: devLoginClient}
}
