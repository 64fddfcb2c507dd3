// Package broadcast is the broadcast function: an HTTP trigger that sends a
// message to everyone, a user, a group or a connection through the Web
// PubSub REST API, and a scheduled trigger (its own deployable function)
// that sends a configured message, such as a heartbeat, on every tick.
//
// The HTTP trigger takes
//
//	POST /  Authorization: Bearer <BROADCAST_SECRET or an HS256 JWT>
//	{"to":"all"|"user"|"group"|"connection", "id":"...", "text":"..." | "json":{...} | "binary":"<base64>"}
//
// and answers 202 with what it sent: {"to":...,"id":...,"type":"text"|"json"|"binary","bytes":n}.
// Bad input gets 400 (413 when too large, 415 for a non-JSON body), a failed
// authorization 401, another method 405; every error is JSON {"error":"..."}.
package broadcast

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/functions/internal/bearer"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/functions/internal/reply"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Request is the body of a broadcast call.
type Request struct {
	// To is "all", "user", "group" or "connection".
	To string `json:"to"`
	// ID is the user id, group name or connection id (not for "all").
	ID string `json:"id,omitempty"`
	// Exactly one of Text, JSON and Binary (standard base64) is the message.
	Text   *string         `json:"text,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Binary *string         `json:"binary,omitempty"`
}

// Result is the 202 answer: what was sent.
type Result struct {
	To    string `json:"to"`
	ID    string `json:"id,omitempty"`
	Type  string `json:"type"` // text, json or binary
	Bytes int    `json:"bytes"`
}

// sender is the part of *wps.Client the function uses.
type sender interface {
	SendToAll(ctx context.Context, msg wps.Message, opts *wps.SendOptions) error
	SendToUser(ctx context.Context, userID string, msg wps.Message, opts *wps.SendOptions) error
	SendToGroup(ctx context.Context, group string, msg wps.Message, opts *wps.SendOptions) error
	SendToConnection(ctx context.Context, connectionID string, msg wps.Message, opts *wps.SendOptions) error
}

type handler struct {
	client  sender
	auth    *bearer.Verifier
	maxBody int64
	targets []string
	log     *slog.Logger
}

// New returns the HTTP-triggered broadcast function.
func New(cfg Config) (http.Handler, error) {
	cfg.setDefaults()
	cs, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	log := fnconf.Logger(cfg.Logger)
	client, err := fnconf.NewClient("broadcast", cs, cfg.Hub, cfg.HTTPClient, log)
	if err != nil {
		return nil, err
	}
	return &handler{
		client: client,
		auth: &bearer.Verifier{Secret: cfg.Secret, JWTSecret: cfg.JWTSecret,
			Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway},
		maxBody: cfg.MaxBodyBytes,
		targets: cfg.AllowedTargets,
		log:     log,
	}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply.Refuse(h.log, "broadcast refused", w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use POST")
		return
	}
	id, err := h.auth.Verify(r)
	if err != nil {
		var be *bearer.Error
		reason := "unauthorized"
		if errors.As(err, &be) {
			reason = be.Reason
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="broadcast"`)
		reply.Refuse(h.log, "broadcast refused", w, r, http.StatusUnauthorized, reason)
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
	req, msg, res, err := h.parse(body)
	if err != nil {
		reply.Refuse(h.log, "broadcast refused", w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := send(r.Context(), h.client, req.To, req.ID, msg); err != nil {
		status, reason := sendFailure(err)
		h.log.Error("broadcast failed", "to", req.To, "id", req.ID, "auth", id.Method, "err", err)
		reply.Error(w, status, reason)
		return
	}
	h.log.Info("broadcast sent", "to", req.To, "id", req.ID, "type", res.Type, "bytes", res.Bytes, "auth", id.Method, "sub", id.Subject)
	reply.JSON(w, http.StatusAccepted, res)
}

// parse decodes and validates a request body.
func (h *handler) parse(body []byte) (Request, wps.Message, Result, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, wps.Message{}, Result{}, fmt.Errorf("body is not a valid request: %s", jsonReason(err))
	}
	if dec.More() {
		return req, wps.Message{}, Result{}, errors.New("body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, wps.Message{}, Result{}, errors.New("body holds data after the JSON object")
	}
	switch req.To {
	case "":
		return req, wps.Message{}, Result{}, errors.New(`"to" is required: all, user, group or connection`)
	case "all", "user", "group", "connection":
	default:
		return req, wps.Message{}, Result{}, fmt.Errorf(`"to" must be all, user, group or connection, not %q`, ident.Clip(req.To))
	}
	if !slices.Contains(h.targets, req.To) {
		return req, wps.Message{}, Result{}, fmt.Errorf(`"to": %s is not allowed here`, req.To)
	}
	if req.To == "all" {
		if req.ID != "" {
			return req, wps.Message{}, Result{}, errors.New(`"id" must be empty when "to" is all`)
		}
	} else if err := validID(req.ID); err != nil {
		return req, wps.Message{}, Result{}, fmt.Errorf(`"id" %s`, err)
	}
	n := 0
	var msg wps.Message
	res := Result{To: req.To, ID: req.ID}
	if req.Text != nil {
		n++
		if !utf8.ValidString(*req.Text) {
			return req, wps.Message{}, Result{}, errors.New(`"text" is not valid UTF-8`)
		}
		msg, res.Type, res.Bytes = wps.Text(*req.Text), "text", len(*req.Text)
	}
	if len(req.JSON) > 0 {
		n++
		msg = wps.JSON(req.JSON)
		res.Type, res.Bytes = "json", len(msg.Bytes())
	}
	if req.Binary != nil {
		n++
		b, err := base64.StdEncoding.DecodeString(*req.Binary)
		if err != nil {
			return req, wps.Message{}, Result{}, errors.New(`"binary" is not valid base64 (standard alphabet, padded)`)
		}
		msg, res.Type, res.Bytes = wps.Binary(b), "binary", len(b)
	}
	switch {
	case n == 0:
		return req, wps.Message{}, Result{}, errors.New(`one of "text", "json" or "binary" is required`)
	case n > 1:
		return req, wps.Message{}, Result{}, errors.New(`only one of "text", "json" or "binary" may be given`)
	}
	return req, msg, res, nil
}

// send sends msg to everyone ("all"), or to the user, group or connection id.
func send(ctx context.Context, client sender, to, id string, msg wps.Message) error {
	switch to {
	case "user":
		return client.SendToUser(ctx, id, msg, nil)
	case "group":
		return client.SendToGroup(ctx, id, msg, nil)
	case "connection":
		return client.SendToConnection(ctx, id, msg, nil)
	}
	return client.SendToAll(ctx, msg, nil)
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

// validID checks a user id, group name or connection id.
func validID(id string) error {
	if id == "" {
		return errors.New("is required")
	}
	return ident.Check(id, 1024)
}

// jsonReason describes a decoding error without quoting the input.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}
