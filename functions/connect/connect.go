// Package connect is the connect function: it serves a hub's system events.
//
//   - connect authorizes the client. The user is the client token's sub
//     claim; a client without one is refused with 401 unless anonymous
//     connections are allowed. Groups asked for with the "group" query
//     parameter are checked against an optional allow-list (403 otherwise)
//     and joined on connect; roles come from configuration.
//   - connected greets the connection through the REST API:
//     {"type":"system","text":"welcome <user>"}.
//   - disconnected announces {"type":"system","event":"left","user":"<user>"}
//     to each group the connection was in; the group presence events
//     announce {"type":"system","event":"joined"|"left","user":"<user>"} to
//     the group joined or left (all off with DisableLeaveAnnouncement).
//     Presence is a user's, not a connection's: a join while another of the
//     user's connections is in the group, and a leave or disconnect while
//     one still is, are not announced (a second tab, one of two closed), as
//     far as this instance has seen their group events.
//
// How the function knows a connection's groups: connect writes the groups
// it grants (and those in the token's webpubsub.group claim) to the
// connection state under StateGroups; the message function adds each room
// the connection posts to; the service carries that state to every later
// event, so the disconnected event lists them on any instance. Groups the
// client joins itself are learnt from the group presence events (gp.joined
// and gp.left, enable them on the event handler) and kept in memory, which
// is exact when one instance serves a connection's events (local runs,
// warm instances) and best effort otherwise.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// StateGroups is the connection-state key holding the groups a connection
// is known to be in (shared with the message function).
const StateGroups = "groups"

// Greeting is sent to a new connection.
type Greeting struct {
	Type string `json:"type"` // "system"
	Text string `json:"text"` // "welcome <user>"
}

// Leave is announced to a departed connection's groups, and to a group a
// connection joined (Event "joined").
type Leave struct {
	Type  string `json:"type"`  // "system"
	Event string `json:"event"` // "left" or "joined"
	User  string `json:"user"`
}

// sender is the part of *wps.Client the function uses.
type sender interface {
	SendToConnection(ctx context.Context, connectionID string, msg wps.Message, opts *wps.SendOptions) error
	SendToGroup(ctx context.Context, group string, msg wps.Message, opts *wps.SendOptions) error
	ConnectionExists(ctx context.Context, connectionID string) (bool, error)
}

type function struct {
	cfg    Config
	client sender
	log    *slog.Logger
	groups *tracker
}

// New returns the connect function: a pkg/cloudevents handler for the
// connect, connected, disconnected, joined and left events.
func New(cfg Config) (http.Handler, error) {
	s, err := fnconf.Start("connect", cfg.validate, &cfg.Identity, cfg.Hub, wps.ClientOptions{HTTPClient: cfg.HTTPClient, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	log := s.Log
	f := &function{cfg: cfg, client: s.Client, log: log, groups: newTracker(maxTracked)}
	auth, err := fnconf.Authenticator("connect", &cfg.EventAuth, s.Conn, cfg.AccessKeys, &cfg.Identity, log, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	h := &cloudevents.Handler{
		Hub:           cfg.Hub,
		Authenticator: auth,
		Logger:        log,
		Connect:       f.connect,
		Connected:     f.connected,
		Disconnected:  f.disconnected,
		GroupJoined:   f.groupJoined,
		GroupLeft:     f.groupLeft,
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h, nil
}

// userOf is the client token's sub claim, or the ce-userId the service sent.
func userOf(req *cloudevents.ConnectRequest) string {
	if subs := req.Claims["sub"]; len(subs) > 0 && subs[0] != "" {
		return subs[0]
	}
	return req.UserID
}

func (f *function) connect(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
	user := userOf(req)
	if req.MQTT != nil { // mqtt.go
		device, err := f.mqttUser(req)
		if err != nil {
			return nil, err
		}
		if device != "" {
			user = device
		}
		if user == "" && !f.cfg.AllowAnonymous {
			return nil, f.mqttRefusal(req, "anonymous connections are not allowed: no user in the token and no known device")
		}
	}
	if user == "" && !f.cfg.AllowAnonymous {
		return nil, f.refuse(req, http.StatusUnauthorized, "anonymous connections are not allowed: the client token has no sub (user id)")
	}
	var groups []string
	for _, g := range req.Query["group"] {
		if slices.Contains(groups, g) {
			continue
		}
		if !validGroup(g) {
			return nil, f.refuse(req, http.StatusBadRequest, fmt.Sprintf("group %q is not a valid group name", ident.Clip(g)))
		}
		if len(f.cfg.AllowedGroups) > 0 && !slices.Contains(f.cfg.AllowedGroups, g) {
			return nil, f.refuse(req, http.StatusForbidden, fmt.Sprintf("group %q may not be joined", ident.Clip(g)))
		}
		if len(groups) == f.cfg.MaxGroups { // checked as we go: the query may be huge
			return nil, f.refuse(req, http.StatusBadRequest, fmt.Sprintf("too many groups asked for (at most %d)", f.cfg.MaxGroups))
		}
		groups = append(groups, g)
	}
	res := &cloudevents.ConnectResponse{
		UserID:      user,
		Groups:      groups,
		Roles:       slices.Clone(f.cfg.Roles),
		Subprotocol: f.subprotocol(req.Subprotocols),
	}
	if req.MQTT != nil {
		res.Subprotocol = "" // the service's own "mqtt"
	}
	known := slices.Clone(groups)
	for _, g := range req.Claims["webpubsub.group"] {
		if !slices.Contains(known, g) {
			known = append(known, g)
		}
	}
	if len(known) > 0 {
		if err := res.SetState(StateGroups, known); err != nil {
			return nil, err
		}
	}
	f.log.Info("connect accepted", "connection", req.ConnectionID, "user", user, "groups", groups, "subprotocol", res.Subprotocol)
	return res, nil
}

// subprotocol picks the first subprotocol the client offers that is allowed;
// none when the client offers none of them.
func (f *function) subprotocol(offered []string) string {
	for _, p := range offered {
		if slices.Contains(f.cfg.Subprotocols, p) {
			return p
		}
	}
	return ""
}

func (f *function) refuse(req *cloudevents.ConnectRequest, status int, reason string) error {
	f.log.Warn("connect refused", "connection", req.ConnectionID, "status", status, "reason", reason)
	return cloudevents.Errorf(status, "%s", reason)
}

func (f *function) connected(ctx context.Context, req *cloudevents.ConnectedRequest) error {
	if f.cfg.DisableGreet {
		return nil
	}
	text := "welcome"
	if req.UserID != "" {
		text += " " + req.UserID
	}
	if err := f.client.SendToConnection(ctx, req.ConnectionID, wps.JSON(Greeting{Type: "system", Text: text}), nil); err != nil {
		f.log.Error("greeting failed", "connection", req.ConnectionID, "err", err)
		return fmt.Errorf("connect: greeting %s: %w", req.ConnectionID, err)
	}
	f.log.Info("connected", "connection", req.ConnectionID, "user", req.UserID)
	return nil
}

func (f *function) groupJoined(ctx context.Context, req *cloudevents.GroupEventRequest) error {
	f.groups.set(req.ConnectionID, req.UserID, req.Group, true)
	if f.stillThere(ctx, req.UserID, req.Group, req.ConnectionID) {
		return nil // another connection of the user is in the group: not news
	}
	return f.announce(ctx, req, "joined")
}

func (f *function) groupLeft(ctx context.Context, req *cloudevents.GroupEventRequest) error {
	f.groups.set(req.ConnectionID, req.UserID, req.Group, false)
	if f.stillThere(ctx, req.UserID, req.Group, req.ConnectionID) {
		return nil // the user is still there on another connection
	}
	return f.announce(ctx, req, "left")
}

// stillThere reports whether another of user's connections is in group, as
// far as this instance has seen, and the service says it is still open. The
// check matters with several instances: a connection whose disconnected
// event went to another one would otherwise hide the user's leave (or join)
// for good. Closed ones are forgotten; when the service cannot be asked,
// the presence change is announced (a repeated notice over a lost one).
func (f *function) stillThere(ctx context.Context, user, group, except string) bool {
	if f.cfg.DisableLeaveAnnouncement || user == "" {
		return false
	}
	for _, other := range f.groups.others(user, group, except) {
		open, err := f.client.ConnectionExists(ctx, other)
		if err != nil {
			f.log.Warn("presence check failed; announcing", "user", user, "group", group, "connection", other, "err", err)
			return false
		}
		if open {
			return true
		}
		f.groups.take(other) // closed, its disconnected event seen elsewhere
	}
	return false
}

// announce tells the group a user joined or left it, as Slack-like rooms do.
func (f *function) announce(ctx context.Context, req *cloudevents.GroupEventRequest, event string) error {
	if f.cfg.DisableLeaveAnnouncement || req.UserID == "" {
		return nil
	}
	msg := wps.JSON(Leave{Type: "system", Event: event, User: req.UserID})
	if err := f.client.SendToGroup(ctx, req.Group, msg, nil); err != nil {
		f.log.Error("presence announcement failed", "event", event, "connection", req.ConnectionID, "group", req.Group, "err", err)
		return fmt.Errorf("connect: announcing that %s %s %s: %w", req.ConnectionID, event, req.Group, err)
	}
	return nil
}

func (f *function) disconnected(ctx context.Context, req *cloudevents.DisconnectedRequest) error {
	tracked := f.groups.take(req.ConnectionID)
	var groups []string
	if _, err := req.State().Get(StateGroups, &groups); err != nil {
		groups = nil // state written by someone else
	}
	groups = slices.DeleteFunc(groups, func(g string) bool { joined, ok := tracked[g]; return ok && !joined })
	for g, joined := range tracked {
		if joined && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	slices.Sort(groups)
	f.log.Info("disconnected", "connection", req.ConnectionID, "user", req.UserID, "reason", req.Reason, "groups", groups)
	if f.cfg.DisableLeaveAnnouncement || req.UserID == "" {
		return nil
	}
	msg := wps.JSON(Leave{Type: "system", Event: "left", User: req.UserID})
	var errs []error
	for _, g := range groups {
		if f.stillThere(ctx, req.UserID, g, req.ConnectionID) {
			continue // the user is still there on another connection
		}
		if err := f.client.SendToGroup(ctx, g, msg, nil); err != nil {
			f.log.Error("leave announcement failed", "connection", req.ConnectionID, "group", g, "err", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("connect: announcing the leave of %s: %w", req.ConnectionID, errors.Join(errs...))
	}
	return nil
}

// maxTracked bounds the connections whose group events are kept in memory.
const maxTracked = 10000

// tracker remembers, per connection, the groups it joined (true) or left
// (false) according to the group presence events seen by this instance, and
// which of a user's connections it knows to be in each group, so that
// presence is announced per user, as chat apps show it: a second tab
// joining, or one of two tabs closing, is not news to the room.
type tracker struct {
	mu      sync.Mutex
	max     int
	conns   map[string]*tracked
	present map[string]map[string]map[string]struct{} // group → user → joined connections
}

type tracked struct {
	user   string
	groups map[string]bool
}

func newTracker(max int) *tracker {
	return &tracker{max: max, conns: map[string]*tracked{}, present: map[string]map[string]map[string]struct{}{}}
}

// set records that conn (of user) joined or left group.
func (t *tracker) set(conn, user, group string, joined bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[conn]
	if c == nil {
		if len(t.conns) >= t.max {
			for k, old := range t.conns { // evict one: the map's order is as good as any
				t.forget(k, old)
				delete(t.conns, k)
				break
			}
		}
		c = &tracked{user: user, groups: map[string]bool{}}
		t.conns[conn] = c
	}
	if was := c.groups[group]; len(c.groups) < 1000 || was {
		c.groups[group] = joined
		switch {
		case joined && !was:
			t.mark(group, c.user, conn, true)
		case !joined && was:
			t.mark(group, c.user, conn, false)
		}
	}
}

// mark adds conn to, or removes it from, the user's connections in group
// (t.mu held).
func (t *tracker) mark(group, user, conn string, in bool) {
	users := t.present[group]
	if in {
		if users == nil {
			users = map[string]map[string]struct{}{}
			t.present[group] = users
		}
		if users[user] == nil {
			users[user] = map[string]struct{}{}
		}
		users[user][conn] = struct{}{}
		return
	}
	delete(users[user], conn)
	if len(users[user]) == 0 {
		delete(users, user)
		if len(users) == 0 {
			delete(t.present, group)
		}
	}
}

// forget drops conn's joined groups from the presence sets (t.mu held).
func (t *tracker) forget(conn string, c *tracked) {
	for g, joined := range c.groups {
		if joined {
			t.mark(g, c.user, conn, false)
		}
	}
}

// take returns and forgets what is known about conn.
func (t *tracker) take(conn string) map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[conn]
	if c == nil {
		return nil
	}
	t.forget(conn, c)
	delete(t.conns, conn)
	return c.groups
}

// others lists user's connections other than except that this instance
// knows to be in group, in order.
func (t *tracker) others(user, group, except string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for c := range t.present[group][user] {
		if c != except {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
