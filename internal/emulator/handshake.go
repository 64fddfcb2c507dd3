package emulator

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wpsfn/wpsfn/internal/shorten"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// validHubName reports whether name matches the REST API's hub pattern.
func validHubName(name string) bool { return wps.ValidHub(name) }

// offeredSubprotocols lists the client's Sec-WebSocket-Protocol values.
func offeredSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// reject answers a refused handshake with a plain-text status, a log line
// and a trace entry.
func (s *Server) reject(w http.ResponseWriter, h string, status int, msg string) {
	s.log.Info("emulator: client connection refused", "hub", h, "status", status, "reason", msg)
	s.trace(TraceEvent{Kind: TraceRefused, Hub: h, Status: status, Summary: "refused: " + msg})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func acceptOptions(sub string) *websocket.AcceptOptions {
	o := &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled}
	if sub != "" {
		o.Subprotocols = []string{sub}
	}
	return o
}

// serveClient is the client endpoint: /client/hubs/{hub} or /client/?hub=.
// admit refuses a client handshake while the emulator shuts down or for an
// invalid hub name; it reports whether the handshake may go on.
func (s *Server) admit(w http.ResponseWriter, hubName string) bool {
	if s.closing.Load() {
		s.reject(w, hubName, http.StatusServiceUnavailable, "The emulator is shutting down.")
		return false
	}
	if !validHubName(hubName) {
		s.reject(w, hubName, http.StatusBadRequest, "Invalid or missing hub name.")
		return false
	}
	return true
}

func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	hubName := r.URL.Query().Get("hub")
	if strings.HasPrefix(r.URL.Path, "/client/hubs/") {
		hubName = r.PathValue("hub") // "" on the subtree fallback: refused below
	}
	if !s.admit(w, hubName) {
		return
	}
	q := r.URL.Query()
	if cid := q.Get("awps_connection_id"); cid != "" {
		s.resume(w, r, hubName, cid, q.Get("awps_reconnection_token"))
		return
	}
	// Settings of a hub nobody configured or used yet are the zero value;
	// the hub itself is created only for an accepted client.
	settings := &HubSettings{}
	displayName := hubName
	if h := s.lookupHub(hubName); h != nil {
		settings, displayName = h.conf(), h.name
	}

	// Who is it?
	var claims jwt.MapClaims
	tok := q.Get("access_token")
	if tok == "" {
		tok = bearer(r)
	}
	if tok != "" {
		var err error
		if claims, err = s.verifyToken(tok); err != nil {
			s.reject(w, displayName, http.StatusUnauthorized, "Unauthorized: "+err.Error()+".")
			return
		}
		if !clientAudienceOK(claims, hubName) {
			s.reject(w, displayName, http.StatusUnauthorized, "Unauthorized: the access token's audience is not this hub's client endpoint.")
			return
		}
	} else if !settings.AllowAnonymous {
		s.reject(w, displayName, http.StatusUnauthorized, "Unauthorized: no access token, and hub "+displayName+" does not allow anonymous connections.")
		return
	}
	userID, ok := claims["sub"].(string)
	if _, present := claims["sub"]; present && !ok {
		// One user per token: an array or a number is not a user id.
		s.reject(w, displayName, http.StatusUnauthorized, "Unauthorized: the access token's sub claim must be a single string.")
		return
	}
	roles := claimStrings(claims, "role")
	groups := claimStrings(claims, "webpubsub.group")

	// Plain WebSocket mode.
	var sendToGroupMode bool
	var modeGroup string
	switch mode := q.Get("webpubsub_mode"); {
	case mode == "" || strings.EqualFold(mode, "sendEvent"):
	case strings.EqualFold(mode, "sendToGroup"):
		if gs := q["group"]; len(gs) != 1 || !wps.ValidGroup(gs[0]) {
			s.reject(w, displayName, http.StatusBadRequest, "webpubsub_mode=sendToGroup needs exactly one group query parameter, of "+groupRule+".")
			return
		}
		sendToGroupMode, modeGroup = true, q.Get("group")
	default:
		s.reject(w, displayName, http.StatusBadRequest, "Unknown webpubsub_mode "+quoteShort(mode)+" (use sendEvent or sendToGroup).")
		return
	}

	// The connect event.
	h := s.hub(hubName)
	offered := offeredSubprotocols(r)
	id := s.newID()
	query := map[string][]string{}
	for k, v := range q {
		if k != "access_token" { // the claims carry what it says
			query[k] = v
		}
	}
	headers := map[string][]string{}
	for k, v := range r.Header {
		if k != "Authorization" {
			headers[k] = v
		}
	}
	req := &cloudevents.ConnectRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: h.name, ConnectionID: id, UserID: userID},
		Claims:            claimsToMap(claims), Query: query, Headers: headers, Subprotocols: offered,
	}
	res, err := s.up.connect(r.Context(), h, req)
	if err != nil {
		var ce *cloudevents.Error
		if errors.As(err, &ce) {
			status := ce.Status
			if status < 400 || status > 599 {
				status = http.StatusInternalServerError
			}
			msg := ce.Message
			if msg == "" {
				msg = http.StatusText(status)
			}
			s.reject(w, h.name, status, msg)
			return
		}
		s.reject(w, h.name, http.StatusInternalServerError, "The connect event handler failed: "+err.Error())
		return
	}
	chosen := ""
	if res.resp != nil {
		if res.resp.UserID != "" {
			userID = res.resp.UserID
		}
		groups = append(groups, res.resp.Groups...)
		roles = append(roles, res.resp.Roles...)
		if chosen = res.resp.Subprotocol; chosen != "" && !containsExact(offered, chosen) {
			s.reject(w, h.name, http.StatusInternalServerError, "The connect event handler chose subprotocol "+quoteShort(chosen)+", which the client did not offer.")
			return
		}
	}
	if chosen == "" {
		for _, p := range offered {
			if protocolOf(p) != protoRaw {
				chosen = p
				break
			}
		}
	}

	c := &conn{
		s: s, h: h, id: id, ord: s.ords.Add(1), userID: userID, proto: protocolOf(chosen), subprotocol: chosen,
		since: time.Now(), claims: req.Claims, sendToGroupMode: sendToGroupMode, modeGroup: modeGroup,
		groups: map[string]struct{}{},
	}
	for _, role := range roles {
		c.perms.addRole(role)
	}
	if res.set {
		c.setState(res.state)
	}
	if c.proto == protoReliable {
		c.reconnectToken = newSecret()
	}
	// Registered before the upgrade answer: once the client sees its socket
	// open, REST calls and group messages reach it (frames wait in pending).
	joined := h.add(c, groups)
	cw := &corkingResponseWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, acceptOptions(chosen))
	if err != nil {
		s.log.Info("emulator: WebSocket upgrade failed", "hub", h.name, "err", err)
		h.remove(c)
		return
	}
	ws.SetReadLimit(s.cfg.MaxMessageBytes)
	sk := newSocket(ws, cw.cork)
	s.conns.Add(1)
	defer s.conns.Done()
	var first []outMsg
	if c.proto != protoRaw {
		first = append(first, connectedFrame(c.id, c.userID, c.reconnectToken))
	}
	if !c.attach(sk, first...) {
		ws.Close(websocket.StatusGoingAway, "The emulator is shutting down.")
		return
	}
	s.log.Info("emulator: client connected", "hub", h.name, "connectionId", id, "userId", userID, "protocol", chosen)
	s.trace(TraceEvent{Kind: TraceConnected, Hub: h.name, ConnectionID: id, UserID: userID, Summary: "connected " + protocolName(chosen)})
	s.up.connected(c)
	for _, g := range joined {
		c.joined(g)
	}
	if s.closing.Load() {
		c.close(closeServiceShutdown)
	}
	s.readLoop(c, sk)
}

func protocolName(sub string) string {
	if sub == "" {
		return "(plain WebSocket)"
	}
	return sub
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = shorten.String(s, 64)
	}
	return fmt.Sprintf("%q", s)
}

// resume attaches a new socket to a reliable connection that lost its own.
// A session that is gone is answered, as documented, by an accepted socket
// closed at once with 1008.
func (s *Server) resume(w http.ResponseWriter, r *http.Request, hubName, id, token string) {
	var c *conn
	if h := s.lookupHub(hubName); h != nil {
		c = h.conn(id)
	}
	ok := c != nil && c.proto == protoReliable && token != "" &&
		subtle.ConstantTimeCompare([]byte(token), []byte(c.reconnectToken)) == 1
	sub := SubprotocolJSONReliable
	if c != nil {
		sub = c.subprotocol
	}
	cw := &corkingResponseWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, acceptOptions(sub))
	if err != nil {
		return
	}
	if !ok {
		s.log.Info("emulator: recovery refused: session not found", "hub", hubName)
		s.trace(TraceEvent{Kind: TraceReconnectRefused, Hub: hubName, ConnectionID: clip(id, 128), Summary: "reconnect refused: session not found or expired (close 1008)"})
		ws.Close(websocket.StatusPolicyViolation, "The connection cannot be recovered: session not found or expired.")
		return
	}
	ws.SetReadLimit(s.cfg.MaxMessageBytes)
	sk := newSocket(ws, cw.cork)
	s.conns.Add(1)
	defer s.conns.Done()
	if !c.attach(sk, connectedFrame(c.id, c.userID, c.reconnectToken)) {
		s.trace(TraceEvent{Kind: TraceReconnectRefused, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: "reconnect refused: the connection has ended (close 1008)"})
		ws.Close(websocket.StatusPolicyViolation, "The connection cannot be recovered: it has ended.")
		return
	}
	s.log.Info("emulator: client recovered its connection", "hub", c.h.name, "connectionId", c.id)
	s.trace(TraceEvent{Kind: TraceConnected, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: "recovered " + c.subprotocol})
	s.readLoop(c, sk)
}
