// Package web holds the pages `wpsfn dev` serves, embedded so a fresh
// machine needs nothing but Go: the demo chat page (plain HTML and
// JavaScript speaking the json.reliable.webpubsub.azure.v1 subprotocol
// directly over the browser's WebSocket) and the live trace page, fed by a
// [Trace] over Server-Sent Events.
package web

import (
	"embed"
	"encoding/json"
	"io/fs"
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
	// simplest, e.g. "/api/negotiate" proxied to the negotiate function.
	NegotiateURL string
	// Hub is shown on the pages.
	Hub string
	// Trace serves the live trace stream at /trace/events when set.
	Trace *Trace
}

// Config is what the pages read from /config.json.
type Config struct {
	NegotiateURL string `json:"negotiateUrl"`
	Hub          string `json:"hub"`
	TraceURL     string `json:"traceUrl,omitempty"`
}

// Handler serves the chat page at "/", the trace page at "/trace", their
// assets, "/config.json" and, with a Trace, the stream at "/trace/events".
// Mount it at the root of its own server or route those paths to it.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	files := http.FileServerFS(Files())
	cfg := Config{NegotiateURL: opts.NegotiateURL, Hub: opts.Hub}
	if opts.Trace != nil {
		cfg.TraceURL = "/trace/events"
		mux.Handle("GET /trace/events", opts.Trace)
	}
	cfgJSON, _ := json.Marshal(cfg)
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cfgJSON)
	})
	page := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, Files(), name)
		}
	}
	mux.Handle("GET /{$}", page("index.html"))
	mux.Handle("GET /trace", page("trace.html"))
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	return mux
}

// Paths lists the path patterns Handler serves, for a caller that shares a
// port with another handler (as `wpsfn dev` shares the emulator's).
var Paths = []string{"GET /{$}", "GET /trace", "GET /trace/events", "GET /config.json", "GET /static/"}
