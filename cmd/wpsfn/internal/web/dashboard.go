package web

import (
	"encoding/json"
	"net/http"
)

// DashboardOptions configures Dashboard.
type DashboardOptions struct {
	// NegotiateURL is where the page asks for its client access URL, as the
	// chat page does (GET NegotiateURL?userId=NAME answers {"url": ...}).
	NegotiateURL string
	// Hub is shown on the page.
	Hub string
	// Topic is the MQTT topic the readings are published to: the group the
	// page joins (a topic is a group, taken literally).
	Topic string
	// Device is the client id of the simulated device `wpsfn dev` runs;
	// empty when none runs (the page then says how to publish).
	Device string
}

// DashboardConfig is what the dashboard reads from /dashboard/config.json.
type DashboardConfig struct {
	NegotiateURL string `json:"negotiateUrl"`
	Hub          string `json:"hub"`
	Topic        string `json:"topic"`
	Device       string `json:"device,omitempty"`
}

// DashboardPaths are the patterns Dashboard serves; its script and style
// come from Handler's /static/.
var DashboardPaths = []string{"GET /dashboard", "GET /dashboard/config.json"}

// dashboardCSP allows only the page's own files and WebSocket connections
// (the negotiated URL may name localhost or 127.0.0.1 whichever the page
// was opened with): no inline script or style, nothing from elsewhere.
const dashboardCSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Dashboard serves the telemetry dashboard at /dashboard: a page that
// negotiates like the chat page, joins the topic's group over the reliable
// JSON subprotocol and shows each reading that arrives (a table and a
// sparkline per device), whoever published it: the simulated device over
// MQTT, any MQTT client, a WebSocket client or the REST API.
func Dashboard(opts DashboardOptions) http.Handler {
	cfg, _ := json.Marshal(DashboardConfig{NegotiateURL: opts.NegotiateURL, Hub: opts.Hub, Topic: opts.Topic, Device: opts.Device})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dashboard", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", dashboardCSP)
		http.ServeFileFS(w, r, Files(), "dashboard.html")
	})
	mux.HandleFunc("GET /dashboard/config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cfg)
	})
	return mux
}
