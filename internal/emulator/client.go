package emulator

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

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

func protocolOf(sub string) protocol {
	switch sub {
	case SubprotocolJSON:
		return protoJSON
	case SubprotocolJSONReliable:
		return protoReliable
	}
	return protoRaw
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
func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	hubName := r.URL.Query().Get("hub")
	if rest, ok := strings.CutPrefix(r.URL.Path, "/client/hubs/"); ok {
		hubName = strings.TrimSuffix(rest, "/")
	}
	if s.closing.Load() {
		s.reject(w, hubName, http.StatusServiceUnavailable, "The emulator is shutting down.")
		return
	}
	if !validHubName(hubName) {
		s.reject(w, hubName, http.StatusBadRequest, "Invalid or missing hub name.")
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
		s = s[:64] + "…"
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

// readLoop reads sk's frames until it fails, then hands the socket's end to
// the connection.
func (s *Server) readLoop(c *conn, sk *socket) {
	for {
		typ, data, err := sk.ws.Read(sk.ctx)
		if err != nil {
			switch status := websocket.CloseStatus(err); {
			case errors.Is(err, websocket.ErrMessageTooBig):
				c.socketGone(sk, false, closeReason{code: websocket.StatusMessageTooBig,
					reason: fmt.Sprintf("MessageTooBig: a message is larger than %d bytes.", s.cfg.MaxMessageBytes), now: true})
			case status != -1:
				// A close frame, whatever its code, is the client leaving on purpose;
				// a reliable client that wants to recover just loses its socket.
				c.socketGone(sk, false, closeReason{code: websocket.StatusNormalClosure, reason: "ClientClosed: the client closed the connection."})
			default:
				c.socketGone(sk, true, closeReason{code: websocket.StatusNormalClosure, reason: "ConnectionLost: the connection was lost.", now: true})
			}
			return
		}
		if s.tracing() {
			c.traceFrame(TraceFrameIn, "", typ, data)
		}
		if !c.waitRoom() {
			continue // closed as slow; the next read fails
		}
		c.handleFrame(typ, data)
	}
}

// clientMessage is a frame of the JSON subprotocols.
type clientMessage struct {
	Type         string          `json:"type"`
	Group        string          `json:"group"`
	Event        string          `json:"event"`
	AckID        *uint64         `json:"ackId"`
	NoEcho       bool            `json:"noEcho"`
	DataType     string          `json:"dataType"`
	Data         json.RawMessage `json:"data"`
	SequenceID   *uint64         `json:"sequenceId"`
	InvocationID string          `json:"invocationId"`
	Target       string          `json:"target"`
}

// groupRule is what makes a group name valid (wps.ValidGroup), as the REST
// API checks it; the client protocols check the same.
const groupRule = "1 to 1024 characters, not only whitespace"

// Ack error names (concept-ack).
const (
	ackForbidden        = "Forbidden"
	ackInternalError    = "InternalServerError"
	ackDuplicate        = "Duplicate"
	ackInvocationFailed = "InvocationFailed"
)

func (c *conn) handleFrame(typ websocket.MessageType, data []byte) {
	if c.proto == protoRaw {
		c.handleRaw(typ, data)
		return
	}
	if typ != websocket.MessageText {
		c.protocolError("InvalidMessage: " + c.subprotocol + " takes JSON text frames.")
		return
	}
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		c.protocolError("InvalidMessage: the frame is not a valid JSON message.")
		return
	}
	if c.s.closing.Load() {
		switch m.Type {
		case "joinGroup", "leaveGroup", "sendToGroup", "event":
			c.ack(m.AckID, ackInternalError, "The emulator is shutting down; retry on a new connection.")
			return
		}
	}
	switch m.Type {
	case "joinGroup", "leaveGroup":
		if !wps.ValidGroup(m.Group) {
			c.protocolError("InvalidMessage: " + m.Type + " needs a group of " + groupRule + ".")
			return
		}
		if c.duplicate(m.AckID) {
			return
		}
		if !c.canJoin(m.Group) {
			c.refuse(m.AckID, "The connection has no permission to join or leave group "+quoteShort(m.Group)+".")
			return
		}
		if m.Type == "joinGroup" {
			c.h.join(c, m.Group)
		} else {
			c.h.leave(c, m.Group)
		}
		c.ack(m.AckID, "", "")
	case "sendToGroup":
		if !wps.ValidGroup(m.Group) {
			c.protocolError("InvalidMessage: sendToGroup needs a group of " + groupRule + ".")
			return
		}
		p, err := decodeData(m.DataType, m.Data)
		if err != nil {
			c.protocolError("InvalidMessage: " + err.Error())
			return
		}
		if c.duplicate(m.AckID) {
			return
		}
		if !c.canSend(m.Group) {
			c.refuse(m.AckID, "The connection has no permission to send to group "+quoteShort(m.Group)+".")
			return
		}
		sel := &selector{group: m.Group}
		if m.NoEcho {
			sel.skip = c
		}
		c.h.broadcast(sel, &delivery{p: p, from: "group", group: m.Group, fromUserID: c.userID})
		c.ack(m.AckID, "", "")
	case "event":
		if m.Event == "" {
			c.protocolError("InvalidMessage: event needs an event name.")
			return
		}
		p, err := decodeData(m.DataType, m.Data)
		if err != nil {
			c.protocolError("InvalidMessage: " + err.Error())
			return
		}
		if c.duplicate(m.AckID) {
			return
		}
		reply, err := c.s.up.userEvent(c, m.Event, p)
		if err != nil {
			msg := invocationMessage(m.Event, err)
			if m.AckID == nil {
				// Without an ackId the client cannot be told (concept-ack).
				c.close(closeReason{code: websocket.StatusInternalError, reason: "InvocationFailed: " + msg})
				return
			}
			c.ack(m.AckID, ackInvocationFailed, msg)
			return
		}
		if reply != nil {
			c.send(c.serverMessage(*reply))
		}
		c.ack(m.AckID, "", "")
	case "invoke":
		if m.InvocationID == "" {
			c.protocolError("InvalidMessage: invoke needs an invocationId.")
			return
		}
		if m.Target != "" && m.Target != "event" || m.Event == "" {
			c.send(invokeResponseFrame(m.InvocationID, nil, ackInvocationFailed, "Only invoke target \"event\" with an event name is supported."))
			return
		}
		p, err := decodeData(m.DataType, m.Data)
		if err != nil {
			c.protocolError("InvalidMessage: " + err.Error())
			return
		}
		reply, err := c.s.up.userEvent(c, m.Event, p)
		if err != nil {
			c.send(invokeResponseFrame(m.InvocationID, nil, ackInvocationFailed, invocationMessage(m.Event, err)))
			return
		}
		c.send(invokeResponseFrame(m.InvocationID, reply, "", ""))
	case "sequenceAck":
		if m.SequenceID != nil && c.proto == protoReliable {
			c.sequenceAck(*m.SequenceID)
		}
	case "ping":
		c.send(pongFrame)
	default:
		// Newer or unknown messages (streams, group state, cancelInvocation)
		// are ignored, as a client ignores unknown types.
		c.s.log.Debug("emulator: ignored client message", "hub", c.h.name, "connectionId", c.id, "type", m.Type)
	}
}

func invocationMessage(event string, err error) string {
	if errors.Is(err, errNoHandler) {
		return "No event handler is registered for event " + quoteShort(event) + "."
	}
	if errors.Is(err, errInvalidReply) {
		return err.Error()
	}
	var ce *cloudevents.Error
	if errors.As(err, &ce) {
		return fmt.Sprintf("The event handler answered %d: %s", ce.Status, ce.Message)
	}
	return "The event handler could not be reached."
}

// handleRaw handles a plain WebSocket frame: a user event "message", or a
// message to the connection's group in sendToGroup mode.
func (c *conn) handleRaw(typ websocket.MessageType, data []byte) {
	p := payload{dataType: dataText, data: data}
	if typ == websocket.MessageBinary {
		p.dataType = dataBinary
	}
	if c.sendToGroupMode {
		if !c.canSend(c.modeGroup) {
			c.s.log.Info("emulator: frame dropped: no permission to send to group", "hub", c.h.name, "connectionId", c.id, "group", c.modeGroup)
			c.s.trace(TraceEvent{Kind: TraceFrameIn, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Group: c.modeGroup, Summary: "dropped: no permission to send to " + c.modeGroup})
			return
		}
		c.h.broadcast(&selector{group: c.modeGroup}, &delivery{p: p, from: "group", group: c.modeGroup, fromUserID: c.userID})
		return
	}
	reply, err := c.s.up.userEvent(c, "message", p)
	if err != nil {
		c.close(closeReason{code: websocket.StatusInternalError, reason: "InvocationFailed: " + invocationMessage("message", err)})
		return
	}
	if reply != nil {
		d := delivery{p: *reply}
		c.send(d.raw())
	}
}

// serverMessage is a reply from the event handler in c's protocol.
func (c *conn) serverMessage(p payload) outMsg {
	d := &delivery{p: p, from: "server"}
	switch c.proto {
	case protoRaw:
		return d.raw()
	case protoJSON:
		return d.jsonFrame()
	}
	return d.reliableFrame()
}

func (c *conn) duplicate(ackID *uint64) bool {
	if ackID == nil || !c.seenAck(*ackID) {
		return false
	}
	c.ack(ackID, ackDuplicate, fmt.Sprintf("Message with ackId %d was already processed.", *ackID))
	return true
}

func (c *conn) ack(ackID *uint64, errName, msg string) {
	if ackID != nil {
		c.send(ackFrame(*ackID, errName, msg))
	}
}

// refuse answers Forbidden. A refused message was not processed, so its
// ackId is forgotten: a client that resends it (as the client SDKs do after
// a recovery) is refused again rather than told Duplicate, which the SDKs
// take for success.
func (c *conn) refuse(ackID *uint64, msg string) {
	c.s.log.Info("emulator: request refused", "hub", c.h.name, "connectionId", c.id, "reason", msg)
	if ackID != nil {
		c.forgetAck(*ackID)
	}
	c.ack(ackID, ackForbidden, msg)
}

// protocolError ends a connection that sent a frame its protocol does not
// allow, after telling it why (disconnected system message).
func (c *conn) protocolError(reason string) {
	c.s.log.Info("emulator: closing client after an invalid message", "hub", c.h.name, "connectionId", c.id, "reason", reason)
	c.close(closeReason{code: websocket.StatusInvalidFramePayloadData, reason: reason})
}

// decodeData reads a JSON-protocol data field by its dataType.
func decodeData(dataType string, raw json.RawMessage) (payload, error) {
	switch dataType {
	case "", dataJSON:
		if len(raw) == 0 {
			return payload{}, errors.New("data is missing")
		}
		return payload{dataJSON, raw}, nil
	case dataText:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return payload{}, errors.New("text data must be a JSON string")
		}
		return payload{dataText, []byte(s)}, nil
	case dataBinary:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return payload{}, errors.New("binary data must be a base64 string")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return payload{}, errors.New("binary data must be a base64 string")
		}
		return payload{dataBinary, b}, nil
	}
	return payload{}, fmt.Errorf("dataType %s is not supported", quoteShort(dataType))
}
