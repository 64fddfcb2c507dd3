// Package emulator is a local, offline Azure Web PubSub service: client
// WebSocket endpoints (plain, json.webpubsub.azure.v1 and
// json.reliable.webpubsub.azure.v1), the REST data plane that pkg/wps talks
// to, and upstream CloudEvents delivery to event handlers through
// pkg/cloudevents' service side. `wpsfn emulator` and `wpsfn dev` serve it,
// and the project's end-to-end tests and fan-out benchmark run against it.
//
// Everything is served on one port, like the service:
//
//	/client/hubs/{hub}, /client/?hub={hub}   client WebSockets
//	/api/...                                 REST API (api-version 2024-12-01)
//
// Local choices where the service's behaviour is undocumented are listed in
// the documentation of [Config] and in the project README.
package emulator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAccessKey is the emulator's fixed development key, used when
// Config.AccessKey is empty. It is public and guards nothing: it makes the
// printed connection string the same on every run.
const DefaultAccessKey = "d3BzZm4tZW11bGF0b3ItZGV2LWtleS1ub3Qtc2VjcmV0"

// Defaults for the tunables of Config.
const (
	DefaultKeepAlive       = 20 * time.Second
	DefaultReconnectWindow = 30 * time.Second
	DefaultUpstreamTimeout = 10 * time.Second
	DefaultMaxMessageBytes = 1 << 20
	DefaultOutboundQueue   = 1024
	DefaultOutboundBytes   = 16 << 20
	DefaultReadTimeout     = 30 * time.Second
)

// Config configures a Server. The zero value is usable: default key, hubs
// created on first use with no event handlers and anonymous connects denied.
type Config struct {
	// Addr is unused by New; the CLI listens on it.
	Addr string
	// AccessKey and SecondaryKey sign and verify REST and client tokens;
	// either is accepted. AccessKey defaults to DefaultAccessKey.
	AccessKey, SecondaryKey string
	// Hubs holds per-hub settings; names are case-insensitive. Hubs not
	// listed exist on first use with zero settings.
	Hubs map[string]HubSettings
	// Logger receives one line per notable event; nil discards.
	Logger *slog.Logger
	// Trace, when set, is called for every client frame in and out, upstream
	// call, REST call, connection open/close and group join/leave. It may be
	// called concurrently and must be cheap.
	Trace func(TraceEvent)

	// The sizes, counts and durations below mean their Default… when zero;
	// New refuses a negative one (*ConfigError).

	// KeepAlive is the interval of WebSocket pings to idle clients
	// (default 20 s, the service's default).
	KeepAlive time.Duration
	// ReconnectWindow is how long a reliable connection whose socket dropped
	// is kept for recovery (default 30 s, the documented minimum).
	ReconnectWindow time.Duration
	// UpstreamTimeout bounds each blocking upstream call (connect and user
	// events) and each attempt of a notification (default 10 s).
	UpstreamTimeout time.Duration
	// MaxMessageBytes is the largest client message accepted (default 1 MiB);
	// a bigger one closes the connection with 1009.
	MaxMessageBytes int64
	// OutboundQueue is how many messages may wait for a slow non-reliable
	// client before it is disconnected (default 1024), and
	// OutboundQueueBytes how many bytes of them (default 16 MiB), whichever
	// is reached first. Reliable clients are bounded by the documented 1000
	// messages / 16 MB of unacknowledged data.
	OutboundQueue      int
	OutboundQueueBytes int
	// ReadTimeout bounds how long a REST request's body may take to arrive
	// (default 30 s); a slower one is answered 408 and its connection
	// closed, so a client that trickles a body cannot pin the server.
	ReadTimeout time.Duration
	// HTTPClient makes the upstream calls; nil uses a dedicated client.
	HTTPClient *http.Client

	// DisableLocalAuth is the resource's disableLocalAuth: REST calls and
	// client tokens signed with the access keys are refused (Entra tokens of
	// the local tenant only; :generateToken mints client tokens with a key of
	// its own), and upstream requests carry no ce-signature.
	DisableLocalAuth bool
	// LoginClients are the applications the local tenant's sign-in serves
	// (identity_login.go); none means every sign-in request is refused.
	LoginClients []LoginClient
	// FederatedCredentials let apps of the local tenant trade tokens of
	// other issuers for its tokens (workload identity federation,
	// identity_token.go).
	FederatedCredentials []FederatedCredential
	// URL is the emulator's own base URL (http://host:port), the authority
	// of its local tenant in the tokens it sends upstream; empty means the
	// host each request came to (REST) or http://localhost (upstream).
	URL string

	// now, when set, replaces the clock of message TTLs (nanoseconds), so
	// tests can let a TTL pass without waiting for it.
	now func() int64
}

// HubSettings are one hub's settings.
type HubSettings struct {
	// AllowAnonymous lets clients connect without an access token
	// (the service's anonymousConnectPolicy "allow").
	AllowAnonymous bool
	// EventHandlers are tried in order; the first that matches an event gets it.
	EventHandlers []EventHandler
}

// EventHandler is one upstream event handler of a hub.
type EventHandler struct {
	// URLTemplate is the handler URL; {hub} and {event} are substituted.
	URLTemplate string
	// UserEvents is the user event pattern: "*" (all), a comma list
	// "message,chat", or "" (none).
	UserEvents string
	// SystemEvents lists the system events for this handler: "connect",
	// "connected", "disconnected". The group presence events may be listed
	// here too as "joined" and "left".
	SystemEvents []string
	// GroupEvents sends both group presence events (azure.webpubsub.gp.joined
	// and azure.webpubsub.gp.left) to this handler.
	GroupEvents bool
	// Auth, when its Type is ManagedIdentity, sends every upstream request
	// with a bearer token of the local tenant for Auth.Resource.
	Auth UpstreamAuth
}

// Server is a running emulator. Create it with New and serve Handler.
//
// Locks, and the order in which they nest (a lock is only ever taken while
// holding locks listed before it):
//
//  1. Server.mu: the hubs map (never held while taking another lock).
//  2. hub.mu: a hub's connections, users, groups and each conn's groups
//     (groups.go). Fan-out holds it for reading while it enqueues.
//  3. corkWriter.mu: a socket's writes (socket.go); never taken with hub.mu.
//  4. conn.omu: a connection's outbox and socket (outbox.go); taken under
//     hub.mu by fan-out's enqueue and under corkWriter.mu by flushInline.
//  5. Leaves, held alone: conn.pmu (permissions, state, ack ids),
//     fanoutWriters.mu, asyncQueue.mu, upstream.mu, tokenCache.mu, activity.mu.
//
// Each lock's operations are methods of the type that owns it; no file
// reaches into another type's lock.
type Server struct {
	cfg  Config
	keys []string
	id   identity // the local identity provider (identity.go)
	log  *slog.Logger
	up   *upstream

	mu   sync.RWMutex
	hubs map[string]*hub // by lower-case name

	tokens   tokenCache
	closing  atomic.Bool // Shutdown began: no new clients
	down     atomic.Bool // Shutdown finished: no REST calls either
	conns    activity    // live sockets and pending notifications
	shutdown chan struct{}
	// ctx is the parent of upstream calls; stop cancels it when Shutdown's
	// context ends before the graceful part is done.
	ctx  context.Context
	stop context.CancelFunc
	ids  atomic.Uint64
	ords atomic.Uint64 // conn.ord
	// mqttMu serialises the creation and takeover of MQTT sessions (mqtt.go).
	mqttMu sync.Mutex
	// now is the clock of message TTLs: monotonic nanoseconds since New
	// (never 0 once a TTL is added, so 0 can mean "no TTL").
	now func() int64
	// writers bounds concurrent fan-out writing.
	writers fanoutWriters
	// writes and frames count data-frame system calls and the frames they
	// carried (Server.WriteStats).
	writes, frames atomic.Int64
	handler        http.Handler // routes
	// frameText caches the trace texts of the last traced frame.
	frameText frameTextCache
}

// New returns a Server for cfg. It fails on an invalid hub name or event
// handler URL template, and with a *ConfigError on a negative size, count
// or duration.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.AccessKey == "" {
		cfg.AccessKey = DefaultAccessKey
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.ReconnectWindow == 0 {
		cfg.ReconnectWindow = DefaultReconnectWindow
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.OutboundQueue == 0 {
		cfg.OutboundQueue = DefaultOutboundQueue
	}
	if cfg.OutboundQueueBytes == 0 {
		cfg.OutboundQueueBytes = DefaultOutboundBytes
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		keys:     []string{cfg.AccessKey},
		log:      log,
		hubs:     map[string]*hub{},
		shutdown: make(chan struct{}),
		now:      cfg.now,
	}
	if s.now == nil {
		start := time.Now()
		s.now = func() int64 { return int64(time.Since(start)) }
	}
	if cfg.SecondaryKey != "" {
		s.keys = append(s.keys, cfg.SecondaryKey)
	}
	s.id.header = newSecret()
	if err := validateLoginClients(cfg.LoginClients); err != nil {
		return nil, err
	}
	fed, err := newFederation(append([]FederatedCredential(nil), cfg.FederatedCredentials...), log)
	if err != nil {
		return nil, err
	}
	s.id.fed = fed
	if cfg.DisableLocalAuth {
		// The published keys verify nothing; client tokens minted by
		// :generateToken are signed with a key nobody else has.
		s.keys = []string{newSecret()}
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.writers.work = &s.conns
	s.up = newUpstream(s)
	s.handler = s.routes()
	for name, hs := range cfg.Hubs {
		if err := validateHubSettings(name, hs); err != nil {
			return nil, err
		}
		s.hub(name).settings.Store(&hs)
	}
	return s, nil
}

func validateHubSettings(name string, hs HubSettings) error {
	if !validHubName(name) {
		return fmt.Errorf("emulator: hub %q: invalid name (a letter, then up to 127 letters, digits or _)", name)
	}
	for i, eh := range hs.EventHandlers {
		if err := validateTemplate(eh.URLTemplate); err != nil {
			return fmt.Errorf("emulator: hub %q: event handler %d: %w", name, i+1, err)
		}
		switch {
		case eh.Auth.Type == "" && eh.Auth.Resource == "":
		case strings.EqualFold(eh.Auth.Type, "ManagedIdentity") && eh.Auth.Resource != "":
		default:
			return fmt.Errorf("emulator: hub %q: event handler %d: auth must be type ManagedIdentity with a resource (an empty resource gets a token nobody can validate)", name, i+1)
		}
	}
	return nil
}

// Handler returns the http.Handler serving the client endpoints and the REST
// API, all on one port like the service.
func (s *Server) Handler() http.Handler { return s.handler }

// routes is the emulator's one mux: client endpoints, the REST API
// (restHandler) and a banner at the root.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/client/hubs/{hub}", s.serveClient)
	mux.HandleFunc("/client/hubs/{hub}/{$}", s.serveClient)
	mux.HandleFunc("/client", s.serveClient)           // ?hub=
	mux.HandleFunc("/client/{$}", s.serveClient)       // ?hub=
	mux.HandleFunc("/client/hubs/", s.serveClient)     // no or an invalid hub: refused there
	mux.HandleFunc("/clients/mqtt/hubs/", s.serveMQTT) // mqtt.go; the hub is checked there
	mux.Handle("/api/", s.restHandler())
	s.identityRoutes(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "wpsfn Web PubSub emulator: clients at /client/hubs/{hub}, REST API at /api/")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		newRESTError(http.StatusNotFound, codeNotFound, "Request", "No such endpoint: "+r.URL.Path).write(w)
	})
	return mux
}

// ConnectionString returns the connection string that reaches this server at
// endpoint (e.g. "http://localhost:8080").
func (s *Server) ConnectionString(endpoint string) string {
	return "Endpoint=" + strings.TrimRight(endpoint, "/") + ";AccessKey=" + s.cfg.AccessKey + ";Version=1.0;"
}

// SetHub adds or replaces a hub's settings at run time. An invalid hub name
// or URL template is logged and ignored. Handlers are validated (abuse
// protection) again on their next use.
func (s *Server) SetHub(name string, hs HubSettings) {
	if err := validateHubSettings(name, hs); err != nil {
		s.log.Error("emulator: SetHub ignored", "err", err)
		return
	}
	s.hub(name).settings.Store(&hs)
	s.up.forget()
}

// hub returns the hub called name (case-insensitively), creating it.
func (s *Server) hub(name string) *hub {
	key := strings.ToLower(name)
	s.mu.RLock()
	h := s.hubs[key]
	s.mu.RUnlock()
	if h != nil {
		return h
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h = s.hubs[key]; h == nil {
		h = newHub(s, name)
		s.hubs[key] = h
	}
	return h
}

// lookupHub returns the hub if it exists.
func (s *Server) lookupHub(name string) *hub {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.hubs[strings.ToLower(name)]
}

func (s *Server) allHubs() []*hub {
	s.mu.RLock()
	defer s.mu.RUnlock()
	hs := make([]*hub, 0, len(s.hubs))
	for _, h := range s.hubs {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].key < hs[j].key })
	return hs
}

// DropSocket severs the network connection of connectionID the way a network
// failure would (no close frame), keeping a reliable connection's session for
// recovery. It is meant for tests of client recovery and reports whether the
// connection had a socket.
func (s *Server) DropSocket(connectionID string) bool {
	for _, h := range s.allHubs() {
		if c := h.conn(connectionID); c != nil {
			return c.dropSocket()
		}
	}
	return false
}

func (s *Server) countWrites(writes, frames int64) {
	if writes > 0 {
		s.writes.Add(writes)
		s.frames.Add(frames)
	}
}

// WriteStats reports how many system calls have written data frames to
// clients and how many frames they carried: frames/writes is the batching
// that fan-outs under load achieve (see fanoutWriters).
func (s *Server) WriteStats() (writes, frames int64) {
	return s.writes.Load(), s.frames.Load()
}

// newID returns a connection id: unique, URL-safe, not guessable-looking.
func (s *Server) newID() string {
	return newRandomID(s.ids.Add(1))
}
