// Package web holds the pages `wpsfn dev` and `wpsfn emulator` serve,
// embedded so a fresh machine needs nothing but Go: the demo chat page
// (plain HTML and JavaScript speaking the json.reliable.webpubsub.azure.v1
// subprotocol directly over the browser's WebSocket) and the live trace
// page, fed by a [Trace] over Server-Sent Events.
package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
)

//go:embed static
var static embed.FS

// Files returns the embedded pages and assets (index.html, trace.html, ...).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Options configures Handler.
type Options struct {
	// NegotiateURL is where the chat page asks for its client access URL
	// (GET NegotiateURL?userId=NAME answers {"url": ...}); same origin is
	// simplest, e.g. "/negotiate" proxied to the negotiate function. Empty:
	// no chat page, as in `wpsfn emulator` (mount [TracePaths] there).
	NegotiateURL string
	// Hub is shown on the pages.
	Hub string
	// Limits are the message function's, checked by the chat page before it
	// sends (the function checks them again).
	Limits ChatLimits
	// Trace serves the live trace stream at /trace/events when set.
	Trace *Trace
	// Login, when set, makes the chat page sign users in through an OpenID
	// Connect provider (authorization code with PKCE) and send negotiate its
	// access token, instead of a name in ?userId=.
	Login *Login
	// TracePublic serves the trace to any client; by default only to
	// loopback peers, since it shows every message of every user.
	TracePublic bool
}

// ChatLimits are the limits of the message function's configuration.
type ChatLimits struct {
	MaxTextRunes int    `json:"maxTextRunes,omitempty"` // MESSAGE_MAX_TEXT_RUNES
	MaxBytes     int    `json:"maxBytes,omitempty"`     // MESSAGE_MAX_BYTES, of the JSON {room, text}
	RoomPattern  string `json:"roomPattern,omitempty"`  // MESSAGE_ROOM_PATTERN
}

// Login names the provider the chat page signs in with.
type Login struct {
	// Discovery is the provider's discovery document URL; a path is on the
	// page's own origin (the provider's endpoints are then too).
	Discovery string `json:"discovery"`
	// ClientID is the page's client id at the provider.
	ClientID string `json:"clientId"`
	// Scope is asked for; empty means "openid profile".
	Scope string `json:"scope,omitempty"`
}

// Config is what the pages read from /config.json.
type Config struct {
	NegotiateURL string     `json:"negotiateUrl,omitempty"`
	Hub          string     `json:"hub"`
	TraceURL     string     `json:"traceUrl,omitempty"`
	Limits       ChatLimits `json:"limits"`
	Login        *Login     `json:"login,omitempty"`
}

// Handler serves the chat page at "/", the trace page at "/trace", their
// assets, "/config.json" and, with a Trace, the stream at "/trace/events"
// and each kept event's detail at "/trace/events/{id}". Mount it at the
// root of its own server or route [Paths] to it.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	files := http.FileServerFS(Files())
	cfg := Config{NegotiateURL: opts.NegotiateURL, Hub: opts.Hub, Limits: opts.Limits, Login: opts.Login}
	guard := func(h http.Handler) http.Handler {
		if opts.TracePublic {
			return h
		}
		return loopbackOnly(h)
	}
	if opts.Trace != nil {
		cfg.TraceURL = "/trace/events"
		mux.Handle("GET /trace/events", guard(opts.Trace))
		mux.Handle("GET /trace/events/{id}", guard(http.HandlerFunc(opts.Trace.ServeDetail)))
	}
	cfgJSON, _ := json.Marshal(cfg)
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cfgJSON)
	})
	page := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, Files(), name)
		})
	}
	if opts.NegotiateURL != "" {
		mux.Handle("GET /{$}", page("index.html"))
	}
	mux.Handle("GET /trace", guard(page("trace.html")))
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	return mux
}

// Paths lists the path patterns Handler serves, for a caller that shares a
// port with another handler (as `wpsfn dev` and `wpsfn emulator` share the
// emulator's).
var Paths = append([]string{"GET /{$}"}, TracePaths...)

// TracePaths are the patterns of the trace page alone (no chat page).
var TracePaths = []string{"GET /trace", "GET /trace/events", "GET /trace/events/{id}", "GET /config.json", "GET /static/"}

// loopbackOnly refuses peers that are not on this machine.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "the live trace is served to this machine only (it shows every message of every user); start with --trace-public to serve it to other hosts", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
