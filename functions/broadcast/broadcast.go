// Package broadcast is the broadcast function: an HTTP trigger that sends a
// message to everyone, a user, a group or a connection through the Web
// PubSub REST API, and a scheduled trigger (its own deployable function)
// that sends a configured message, such as a heartbeat, on every tick.
//
// The HTTP trigger takes
//
//	POST /  Authorization: Bearer <BROADCAST_SECRET or an HS256 JWT>
//	{"to":"all"|"user"|"group"|"connection", "id":"...", "text":"..." | "json":{...} | "binary":"<base64>",
//	 "ttl":<seconds>, "filter":"<OData>", "excluded":["<connection id>"]}
//
// (the envelope the relay function also takes from queues and topics)
// and answers 202 with what it sent: {"to":...,"id":...,"type":"text"|"json"|"binary","bytes":n}.
// Bad input gets 400 (413 when too large, 415 for a non-JSON body), a failed
// authorization 401, another method 405; every error is JSON {"error":"..."}.
package broadcast

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/wpsfn/wpsfn/functions/internal/bearer"
	"github.com/wpsfn/wpsfn/functions/internal/envelope"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/reply"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Result is the 202 answer: what was sent.
type Result struct {
	To    string `json:"to"`
	ID    string `json:"id,omitempty"`
	Type  string `json:"type"` // text, json or binary
	Bytes int    `json:"bytes"`
}

type handler struct {
	client   envelope.Sender
	auth     *bearer.Verifier
	platform string // PlatformAWSIAM, PlatformHost or "" (bearer credentials)
	maxBody  int64
	targets  []string
	log      *slog.Logger
}

// New returns the HTTP-triggered broadcast function.
func New(cfg Config) (http.Handler, error) {
	s, err := fnconf.Start("broadcast", cfg.validate, &cfg.Identity, cfg.Hub, wps.ClientOptions{HTTPClient: cfg.HTTPClient, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	log := s.Log
	auth, err := bearer.WithOIDC("broadcast", &bearer.Verifier{Secret: cfg.Secret, JWTSecret: cfg.JWTSecret,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway}, &cfg.OIDC, log, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &handler{
		client:   s.Client,
		auth:     auth,
		platform: cfg.PlatformAuth,
		maxBody:  cfg.MaxBodyBytes,
		targets:  cfg.AllowedTargets,
		log:      log,
	}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply.Refuse(h.log, "broadcast refused", w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use POST")
		return
	}
	var id *bearer.Identity
	var err error
	if h.platform != "" {
		id, err = h.platformIdentity(r)
	} else {
		id, err = h.auth.Verify(r)
	}
	if err != nil {
		var be *bearer.Error
		reason, status := "unauthorized", http.StatusUnauthorized
		if errors.As(err, &be) {
			reason = be.Reason
			if be.Forbidden {
				status = http.StatusForbidden
			}
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="broadcast"`)
		}
		reply.Refuse(h.log, "broadcast refused", w, r, status, reason)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			reply.Refuse(h.log, "broadcast refused", w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reply.Refuse(h.log, "broadcast refused", w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.maxBody))
			return
		}
		reply.Refuse(h.log, "broadcast refused", w, r, http.StatusBadRequest, "cannot read body")
		return
	}
	req, res, err := h.parse(body)
	if err != nil {
		reply.Refuse(h.log, "broadcast refused", w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := envelope.Send(r.Context(), h.client, req); err != nil {
		status, reason := sendFailure(err)
		h.log.Error("broadcast failed", "to", req.To, "id", req.ID, "auth", id.Method, "err", err)
		reply.Error(w, status, reason)
		return
	}
	h.log.Info("broadcast sent", "to", req.To, "id", req.ID, "type", res.Type, "bytes", res.Bytes, "auth", id.Method, "sub", id.Subject)
	reply.JSON(w, http.StatusAccepted, res)
}

// parse decodes and validates a request body.
func (h *handler) parse(body []byte) (envelope.Parsed, Result, error) {
	p, err := envelope.Parse(body, envelope.Options{Targets: h.targets})
	if err != nil {
		return p, Result{}, err
	}
	return p, Result{To: p.To, ID: p.ID, Type: p.Type, Bytes: p.Bytes}, nil
}

// sendFailure maps a REST failure to the answer: 502 when the service
// refused, 504 when it did not answer in time.
func sendFailure(err error) (int, string) {
	var re *wps.ResponseError
	switch {
	case errors.As(err, &re):
		return http.StatusBadGateway, fmt.Sprintf("Web PubSub answered %d %s", re.StatusCode, re.Code)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout, "Web PubSub did not answer in time"
	}
	return http.StatusBadGateway, "Web PubSub could not be reached"
}
