// Package message is the message function: it serves a hub's user events.
// A chat message — the user event "message" with JSON data {"room","text"} —
// is validated (size, UTF-8, event name, room name, non-empty text), stamped
// with its sender and the server time, and published to the room's group
// through the Web PubSub REST API as
//
//	{"type":"message","id":"...","room":"...","from":"<userId>","text":"...","time":"<RFC 3339>"}
//
// The sender gets the ack {"ok":true,"id":"..."} back as the event's reply.
// An invalid message is refused with 400 and a precise, one-line reason.
//
// The rooms a connection has posted to are added to its connection state
// under StateGroups, so the connect function can announce the user's leave
// to them on disconnected.
package message

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// StateGroups is the connection-state key holding the groups a connection
// is known to be in (shared with the connect function).
const StateGroups = "groups"

// maxStateGroups bounds the groups remembered in the connection state.
const maxStateGroups = 32

// Chat is the data of a chat message event.
type Chat struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// Published is what the function publishes to the room's group.
type Published struct {
	Type string `json:"type"` // always "message"
	ID   string `json:"id"`
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
	Time string `json:"time"` // RFC 3339, UTC, milliseconds
}

// Ack is the reply to the sender.
type Ack struct {
	OK bool   `json:"ok"`
	ID string `json:"id"`
}

// publisher is the part of *wps.Client the function uses.
type publisher interface {
	SendToGroup(ctx context.Context, group string, msg wps.Message, opts *wps.SendOptions) error
}

type function struct {
	cfg    Config
	room   *regexp.Regexp
	client publisher
	now    func() time.Time
	log    *slog.Logger
}

// New returns the message function: a pkg/cloudevents handler whose user
// events are chat messages.
func New(cfg Config) (http.Handler, error) {
	var re *regexp.Regexp
	compile := func() (cs wps.ConnectionString, err error) { cs, re, err = cfg.compile(); return cs, err }
	s, err := fnconf.Start("message", compile, &cfg.Identity, cfg.Hub, wps.ClientOptions{HTTPClient: cfg.HTTPClient, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	log := s.Log
	f := &function{cfg: cfg, room: re, client: s.Client, now: cfg.Now, log: log}
	if f.now == nil {
		f.now = time.Now
	}
	auth, err := fnconf.Authenticator("message", &cfg.EventAuth, s.Conn, cfg.AccessKeys, &cfg.Identity, log, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	h := &cloudevents.Handler{
		Hub:           cfg.Hub,
		Authenticator: auth,
		// The handler's own bound is the service's 1 MB message limit, so an
		// oversized message is refused below, naming MaxBytes, not this bound.
		MaxBodyBytes: max(int64(cfg.MaxBytes), 1<<20) + 1024,
		Logger:       log,
		UserEvent:    f.userEvent,
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h, nil
}

func (f *function) userEvent(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
	chat, err := f.validate(req)
	if err != nil {
		f.log.Warn("message refused", "connection", req.ConnectionID, "user", req.UserID, "event", req.EventName, "reason", err)
		return nil, cloudevents.Errorf(http.StatusBadRequest, "%s", err)
	}
	from := req.UserID
	if from == "" {
		from = "anonymous"
	}
	pub := Published{
		Type: "message",
		ID:   rand.Text(),
		Room: chat.Room,
		From: from,
		Text: chat.Text,
		Time: f.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
	if err := f.client.SendToGroup(ctx, chat.Room, wps.JSON(pub), nil); err != nil {
		f.log.Error("publishing failed", "connection", req.ConnectionID, "room", chat.Room, "err", err)
		return nil, cloudevents.Errorf(http.StatusInternalServerError, "the message could not be published")
	}
	ack, _ := json.Marshal(Ack{OK: true, ID: pub.ID})
	res := &cloudevents.UserEventResponse{Data: ack, DataType: cloudevents.DataJSON}
	f.remember(req, res, chat.Room)
	f.log.Info("message published", "connection", req.ConnectionID, "user", req.UserID, "room", chat.Room, "id", pub.ID, "bytes", len(chat.Text))
	return res, nil
}

// remember adds room to the connection state's groups (bounded, oldest dropped).
func (f *function) remember(req *cloudevents.UserEventRequest, res *cloudevents.UserEventResponse, room string) {
	var groups []string
	if _, err := req.State().Get(StateGroups, &groups); err != nil {
		groups = nil // a state written by someone else: start afresh
	}
	if slices.Contains(groups, room) {
		return
	}
	groups = append(groups, room)
	if len(groups) > maxStateGroups {
		groups = groups[len(groups)-maxStateGroups:]
	}
	if err := res.SetState(StateGroups, groups); err != nil {
		f.log.Warn("cannot record the room in the connection state", "err", err)
	}
}

// validate checks one event and returns its chat message, or the reason it
// is refused.
func (f *function) validate(req *cloudevents.UserEventRequest) (Chat, error) {
	var c Chat
	if !slices.Contains(f.cfg.Events, req.EventName) {
		return c, fmt.Errorf("event %q is not accepted (accepted: %s)", ident.Clip(req.EventName), strings.Join(f.cfg.Events, ", "))
	}
	if req.UserID == "" && !f.cfg.AllowAnonymous {
		return c, errors.New("anonymous connections may not send messages")
	}
	if len(req.Data) > f.cfg.MaxBytes {
		return c, fmt.Errorf("message is %d bytes; the limit is %d", len(req.Data), f.cfg.MaxBytes)
	}
	if req.DataType != cloudevents.DataJSON && req.DataType != cloudevents.DataText {
		return c, fmt.Errorf("data must be JSON {\"room\",\"text\"}, not %s", req.DataType)
	}
	if !utf8.Valid(req.Data) {
		return c, errors.New("data is not valid UTF-8")
	}
	if err := json.Unmarshal(req.Data, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return c, fmt.Errorf("%q must be a string", te.Field)
		}
		return c, errors.New("data is not a JSON object {\"room\",\"text\"}")
	}
	switch {
	case c.Room == "":
		return c, errors.New(`"room" is required`)
	case !f.room.MatchString(c.Room):
		return c, fmt.Errorf("room %q is not a valid room name (it must match %s)", ident.Clip(c.Room), f.room)
	case len(f.cfg.AllowedRooms) > 0 && !slices.Contains(f.cfg.AllowedRooms, c.Room):
		return c, fmt.Errorf("room %q is not open", ident.Clip(c.Room))
	case strings.TrimSpace(c.Text) == "":
		return c, errors.New(`"text" is empty`)
	case utf8.RuneCountInString(c.Text) > f.cfg.MaxTextRunes:
		return c, fmt.Errorf("text is %d characters; the limit is %d", utf8.RuneCountInString(c.Text), f.cfg.MaxTextRunes)
	case strings.IndexFunc(c.Text, badRune) >= 0:
		return c, errors.New("text holds a control character")
	}
	return c, nil
}

// badRune reports control characters other than tab and newline.
func badRune(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }
