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
	"errors"
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
	// client before it is disconnected (default 1024). Reliable clients are
	// bounded by the documented 1000 messages / 16 MB of unacknowledged data.
	OutboundQueue int
	// HTTPClient makes the upstream calls; nil uses a dedicated client.
	HTTPClient *http.Client

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
}

// TraceEvent is one entry of the live trace.
type TraceEvent struct {
	Time time.Time
	// Kind is "frame-in", "frame-out", "upstream", "rest", "connected",
	// "disconnected", "group-join" or "group-leave".
	Kind                             string
	Hub, ConnectionID, UserID, Group string
	// Summary is one short line; it never contains keys or tokens.
	Summary string
	// Status is the HTTP status of upstream and REST calls (and of a rejected
	// handshake); 0 otherwise.
	Status int
	// Latency is the duration of upstream and REST calls.
	Latency time.Duration
}

// Trace kinds.
const (
	TraceFrameIn      = "frame-in"
	TraceFrameOut     = "frame-out"
	TraceUpstream     = "upstream"
	TraceREST         = "rest"
	TraceConnected    = "connected"
	TraceDisconnected = "disconnected"
	TraceGroupJoin    = "group-join"
	TraceGroupLeave   = "group-leave"
)

// Snapshot is the emulator's state at one moment.
type Snapshot struct {
	Hubs []HubSnapshot `json:"hubs"`
}

// HubSnapshot is one hub's connections and groups.
type HubSnapshot struct {
	Name        string               `json:"name"`
	Connections []ConnectionSnapshot `json:"connections"`
	// Groups maps each non-empty group to its members' connection ids, sorted.
	Groups map[string][]string `json:"groups"`
}

// ConnectionSnapshot is one connection.
type ConnectionSnapshot struct {
	ID       string   `json:"id"`
	UserID   string   `json:"userId,omitempty"`
	Groups   []string `json:"groups"`
	Protocol string   `json:"protocol"` // "" for plain WebSocket, else the subprotocol
	// Connected is false while a reliable connection waits for its client to reconnect.
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`
}

// Server is a running emulator. Create it with New and serve Handler.
type Server struct {
	cfg  Config
	keys []string
	log  *slog.Logger
	up   *upstream

	mu   sync.RWMutex
	hubs map[string]*hub // by lower-case name

	tokens   tokenCache
	closing  atomic.Bool
	conns    activity // live sockets and pending notifications
	shutdown chan struct{}
	ids      atomic.Uint64
	ords     atomic.Uint64 // conn.ord
	// now is the clock of message TTLs: monotonic nanoseconds since New
	// (never 0 once a TTL is added, so 0 can mean "no TTL").
	now func() int64
	// writers bounds concurrent fan-out writing.
	writers fanoutWriters
	// mqttMu serialises the creation and takeover of MQTT sessions (mqtt.go).
	mqttMu sync.Mutex
	// writes and frames count data-frame system calls and the frames they
	// carried (Server.WriteStats).
	writes, frames atomic.Int64
}

// New returns a Server for cfg. It fails on an invalid hub name or event
// handler URL template.
func New(cfg Config) (*Server, error) {
	if cfg.AccessKey == "" {
		cfg.AccessKey = DefaultAccessKey
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.ReconnectWindow <= 0 {
		cfg.ReconnectWindow = DefaultReconnectWindow
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.OutboundQueue <= 0 {
		cfg.OutboundQueue = DefaultOutboundQueue
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
	s.up = newUpstream(s)
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
	}
	return nil
}

// Handler returns the http.Handler serving the client endpoints and the REST
// API, all on one port like the service.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/client" || p == "/client/" || strings.HasPrefix(p, "/client/hubs/"):
		s.serveClient(w, r)
	case strings.HasPrefix(p, "/clients/mqtt/hubs/"):
		s.serveMQTT(w, r)
	case strings.HasPrefix(p, "/api/"):
		s.serveREST(w, r)
	case p == "/" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "wpsfn Web PubSub emulator: clients at /client/hubs/{hub}, REST API at /api/")
	default:
		writeError(w, http.StatusNotFound, "Error.NotFound", "No such endpoint: "+p)
	}
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

// Snapshot returns every hub's connections (id, user, groups, protocol) and
// groups (members), sorted.
func (s *Server) Snapshot() Snapshot {
	var snap Snapshot
	for _, h := range s.allHubs() {
		snap.Hubs = append(snap.Hubs, h.snapshot())
	}
	return snap
}

// Shutdown sends each client a disconnected system message, closes every
// connection (sending the disconnected upstream events), and waits for them
// and for pending notifications until ctx ends. New clients are refused
// from the first call. The http.Server serving Handler is the caller's to shut
// down (hijacked WebSockets are not tracked by it).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.closing.CompareAndSwap(false, true) {
		close(s.shutdown)
	}
	for _, h := range s.allHubs() {
		for _, c := range h.connections() {
			c.close(closeServiceShutdown)
		}
	}
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		s.up.client.CloseIdleConnections()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("emulator: shutdown: %w", ctx.Err())
	}
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

func (s *Server) trace(ev TraceEvent) {
	if s.cfg.Trace == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	s.cfg.Trace(ev)
}

func (s *Server) tracing() bool { return s.cfg.Trace != nil }

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

var errClosed = errors.New("emulator: connection closed")
