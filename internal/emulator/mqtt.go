package emulator

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// The MQTT endpoint: /clients/mqtt/hubs/{hub}, MQTT 3.1.1 and 5.0 over
// WebSocket (subprotocol "mqtt"), as Azure Web PubSub serves it. An MQTT
// session is a conn of the hub like any other: its client id is the
// connection id, its topics are the hub's groups, and fan-outs, REST calls
// and permissions reach it through the one group table.
//
// Local choices where the service documents nothing (docs/emulator.md):
//   - A missing or invalid access token is answered in the CONNACK (3.1.1
//     code 5, 5.0 reason 0x87), not with an HTTP status: MQTT clients report
//     a CONNACK code, while a failed upgrade looks like a network error that
//     they retry forever.
//   - CONNECT constraints (client id [0-9A-Za-z]{1,128}, 3.1.1 keep-alive
//     1–180 s, will topic and payload limits) are refused with 3.1.1 code 2,
//     or 5.0 reason 0x85 (client id) or 0x82 (the others). A 5.0 keep-alive
//     of 0 or above 180 s is answered with Server Keep Alive 180.
//   - Sessions outlive their socket for min(requested, 30 s): 3.1.1 clean
//     session 0, or the 5.0 session expiry interval.

// Topic names of the service.
const (
	mqttServerMessages = "$webpubsub/server/messages"
	mqttEventsPrefix   = "$webpubsub/server/events/"
	mqttReservedPrefix = "$webpubsub/"
	mqttSubprotocol    = "mqtt"
)

// CONNECT limits of the service (mqtt-connection-parameters).
const (
	mqttMaxClientID      = 128
	mqttMaxKeepAlive     = 180
	mqttMaxWillTopic     = 1024
	mqttMaxWillPayload   = 2000
	mqttConnectTimeout   = 10 * time.Second
	mqttMaxSessionExpiry = 30 * time.Second
	// mqttServerReceiveMax is the receive maximum the emulator advertises:
	// at most this many QoS 1 and 2 publishes of a client unacknowledged.
	mqttServerReceiveMax = 100
	// mqttMaxInflight bounds the QoS 1 and 2 messages unacknowledged by a
	// client, whatever receive maximum it sends.
	mqttMaxInflight = 1000
	// mqttMaxBacklogBytes bounds the messages waiting for a session's
	// inflight window (or for its client to reconnect).
	mqttMaxBacklogBytes = 16 << 20
)

// mqttMaxFanouts bounds a connection's publishes whose fan-out is still
// being written (see mqttConn.fanouts; a variable for tests).
var mqttMaxFanouts = 32

// serveMQTT is the MQTT client endpoint.
func (s *Server) serveMQTT(w http.ResponseWriter, r *http.Request) {
	hubName := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/clients/mqtt/hubs/"), "/")
	if !s.admit(w, hubName) {
		return
	}
	offered := offeredSubprotocols(r)
	sub := ""
	if containsExact(offered, mqttSubprotocol) {
		sub = mqttSubprotocol
	} else if len(offered) > 0 {
		s.reject(w, hubName, http.StatusBadRequest, "MQTT clients must offer the WebSocket subprotocol \"mqtt\".")
		return
	}
	cw := &corkingResponseWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, acceptOptions(sub))
	if err != nil {
		s.log.Info("emulator: WebSocket upgrade failed", "hub", hubName, "err", err)
		return
	}
	// A WebSocket message may hold a whole packet and its frame headers.
	ws.SetReadLimit(s.cfg.MaxMessageBytes + 16)
	sk := newSocket(ws, cw.cork)
	s.conns.Add(1)
	defer s.conns.Done()
	mc := &mqttConn{s: s, r: r, sk: sk, hubName: hubName, offered: offered, physID: s.newID(),
		fanouts: make(chan struct{}, mqttMaxFanouts)}
	mc.release = func() { <-mc.fanouts }
	mc.serve()
}

// mqttConn is one network connection of the MQTT endpoint, from its CONNECT
// to its end.
type mqttConn struct {
	s       *Server
	r       *http.Request
	sk      *socket
	hubName string
	offered []string
	physID  string
	br      *bufio.Reader
	idle    *time.Timer // closes the socket when the client falls silent
	silence time.Duration

	c  *conn // the session, once CONNECT was accepted
	mq *mqttSession
	// fanouts holds a token per fan-out of this connection's publishes
	// whose writes are not done yet (hub.broadcastAsync); release returns
	// one. When it is full the reader waits: a publisher that outruns the
	// writes is slowed down, as a synchronous fan-out slowed it.
	fanouts chan struct{}
	release func()
}

func (mc *mqttConn) serve() {
	s, sk := mc.s, mc.sk
	defer sk.cancel()
	mc.br = bufio.NewReaderSize(&mqttStream{ws: sk.ws, ctx: sk.ctx}, 4096)
	mc.idle = time.AfterFunc(mqttConnectTimeout, func() { sk.ws.CloseNow() })
	defer mc.idle.Stop()
	pk, err := readMQTTPacket(mc.br, 0, int(s.cfg.MaxMessageBytes))
	if err != nil {
		mc.failBeforeConnect(err)
		return
	}
	if pk.FixedHeader.Type != packets.Connect {
		// [MQTT-3.1.0-1]: the first packet must be CONNECT; close, no answer.
		s.traceMQTTIn(mc.hubName, "", "", &pk)
		s.log.Info("emulator: MQTT client sent a packet before CONNECT", "hub", mc.hubName, "type", mqttTypeName(pk.FixedHeader.Type))
		sk.ws.Close(websocket.StatusProtocolError, "The first MQTT packet must be CONNECT.")
		return
	}
	s.traceMQTTIn(mc.hubName, pk.Connect.ClientIdentifier, "", &pk)
	if !mc.connect(&pk) {
		return
	}
	mc.readLoop()
}

// failBeforeConnect answers a first packet that could not be read.
func (mc *mqttConn) failBeforeConnect(err error) {
	var de *mqttDecodeError
	if errors.As(err, &de) {
		mc.s.log.Info("emulator: MQTT CONNECT refused", "hub", mc.hubName, "err", err)
		mc.s.trace(TraceEvent{Kind: TraceDisconnected, Hub: mc.hubName, Summary: "refused: " + de.Error()})
		// The protocol level is unknown, so no CONNACK: the connection is
		// closed ([MQTT-4.8.0-1]), the reason in the close frame.
		mc.sk.ws.Close(websocket.StatusProtocolError, truncateReason(de.Error()))
		return
	}
	mc.sk.ws.CloseNow()
}

// refuse answers CONNECT with a refusal CONNACK and closes the connection.
// code is a 3.1.1 return code for level 4 (and unknown levels), a 5.0
// reason code for level 5.
func (mc *mqttConn) refuse(version byte, code byte, reason string, props []cloudevents.MQTTUserProperty) {
	s := mc.s
	s.log.Info("emulator: MQTT CONNECT refused", "hub", mc.hubName, "code", code, "reason", reason)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: mqttV311, ReasonCode: code}
	if version == mqttV5 {
		ack.ProtocolVersion = mqttV5
		ack.Properties.ReasonString = reason
		ack.Properties.User = toMochiProps(props)
	}
	if b, err := encodeMQTT(&ack); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		mc.sk.ws.Write(ctx, websocket.MessageBinary, b)
		cancel()
		s.traceMQTT(TraceFrameOut, mc.hubName, "", "", &ack)
	}
	s.trace(TraceEvent{Kind: TraceDisconnected, Hub: mc.hubName, Summary: "refused: " + reason})
	mc.sk.ws.Close(websocket.StatusNormalClosure, truncateReason(reason))
}

// connect validates CONNECT, asks the connect event handler, creates or
// resumes the session and answers CONNACK. It reports whether the session
// is attached.
func (mc *mqttConn) connect(pk *packets.Packet) bool {
	s, r := mc.s, mc.r
	v := pk.ProtocolVersion
	cp := &pk.Connect
	if string(cp.ProtocolName) != "MQTT" || (v != mqttV311 && v != mqttV5) {
		// MQTT 3.1 (MQIsdp, level 3) and unknown levels: 3.1.1 code 1.
		mc.refuse(mqttV311, packets.Err3UnsupportedProtocolVersion.Code, "Only MQTT 3.1.1 (level 4) and 5.0 (level 5) are supported.", nil)
		return false
	}
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		mc.refuse(v, pick(v, 2, code.Code), "Invalid CONNECT: "+code.Reason+".", nil)
		return false
	}
	// The service's constraints.
	clientID := cp.ClientIdentifier
	assigned := false
	if clientID == "" && v == mqttV5 {
		clientID, assigned = newAlnumID(), true
	}
	if !validMQTTClientID(clientID) {
		mc.refuse(v, pick(v, 2, 0x85), "The client id must be 1 to 128 letters or digits ([0-9A-Za-z]).", nil)
		return false
	}
	keepAlive := int(cp.Keepalive)
	serverKeepAlive := -1
	if v == mqttV311 && (keepAlive < 1 || keepAlive > mqttMaxKeepAlive) {
		mc.refuse(v, 2, "The keep-alive must be 1 to 180 seconds.", nil)
		return false
	}
	if v == mqttV5 && (keepAlive < 1 || keepAlive > mqttMaxKeepAlive) {
		serverKeepAlive, keepAlive = mqttMaxKeepAlive, mqttMaxKeepAlive
	}
	if cp.WillFlag {
		if strings.TrimSpace(cp.WillTopic) == "" || len([]rune(cp.WillTopic)) > mqttMaxWillTopic {
			mc.refuse(v, pick(v, 2, 0x82), "The will topic must be 1 to 1024 characters, not only whitespace.", nil)
			return false
		}
		if len(cp.WillPayload) > mqttMaxWillPayload {
			mc.refuse(v, pick(v, 2, 0x82), "The will payload must be at most 2000 bytes.", nil)
			return false
		}
	}
	if v == mqttV5 && pk.Properties.AuthenticationMethod != "" {
		mc.refuse(v, 0x8C, "Enhanced authentication is not supported.", nil)
		return false
	}

	// Who is it? The token is checked now, answered in the CONNACK.
	settings := &HubSettings{}
	if h := s.lookupHub(mc.hubName); h != nil {
		settings = h.conf()
	}
	var claims jwt.MapClaims
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		tok = bearer(r)
	}
	if tok != "" {
		var err error
		if claims, err = s.verifyToken(tok); err != nil {
			mc.refuse(v, pick(v, 5, 0x87), "Unauthorized: "+err.Error()+".", nil)
			return false
		}
		if !mqttAudienceOK(claims, mc.hubName) {
			mc.refuse(v, pick(v, 5, 0x87), "Unauthorized: the access token's audience is not this hub's MQTT endpoint.", nil)
			return false
		}
	} else if !settings.AllowAnonymous {
		mc.refuse(v, pick(v, 5, 0x87), "Unauthorized: no access token, and the hub does not allow anonymous connections.", nil)
		return false
	}
	userID, ok := claims["sub"].(string)
	if _, present := claims["sub"]; present && !ok {
		mc.refuse(v, pick(v, 5, 0x87), "Unauthorized: the access token's sub claim must be a single string.", nil)
		return false
	}
	roles := claimStrings(claims, "role")
	groups := claimStrings(claims, "webpubsub.group")

	// The connect event, for every CONNECT (reconnects too).
	h := s.hub(mc.hubName)
	query := map[string][]string{}
	for k, vs := range r.URL.Query() {
		if k != "access_token" {
			query[k] = vs
		}
	}
	headers := map[string][]string{}
	for k, vs := range r.Header {
		if k != "Authorization" {
			headers[k] = vs
		}
	}
	clean := cp.Clean
	props := &cloudevents.MQTTConnectProperties{ProtocolVersion: int(v), Username: string(cp.Username), CleanStart: &clean}
	if cp.PasswordFlag {
		props.Password = cp.Password
	}
	if v == mqttV5 {
		props.UserProperties = fromMochiProps(pk.Properties.User)
	}
	req := &cloudevents.ConnectRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: h.name, ConnectionID: clientID, UserID: userID,
			Subprotocol: mqttSubprotocol, PhysicalConnectionID: mc.physID},
		Claims: claimsToMap(claims), Query: query, Headers: headers, Subprotocols: mc.offered, MQTT: props,
	}
	if len(req.Subprotocols) == 0 {
		req.Subprotocols = []string{mqttSubprotocol}
	}
	res, err := s.up.connect(r.Context(), h, req)
	if err != nil {
		code, reason, up := mqttRefusal(v, err)
		mc.refuse(v, code, reason, up)
		return false
	}
	var ackProps []cloudevents.MQTTUserProperty
	if res.resp != nil {
		if res.resp.UserID != "" {
			userID = res.resp.UserID
		}
		groups = append(groups, res.resp.Groups...)
		roles = append(roles, res.resp.Roles...)
		if sp := res.resp.Subprotocol; sp != "" && sp != mqttSubprotocol {
			mc.refuse(v, pick(v, 3, 0x80), "The connect event handler chose subprotocol "+quoteShort(sp)+", not mqtt.", nil)
			return false
		}
		if res.resp.MQTT != nil {
			ackProps = res.resp.MQTT.UserProperties
		}
	}
	if s.closing.Load() {
		mc.refuse(v, pick(v, 3, 0x8B), "The emulator is shutting down.", nil)
		return false
	}

	// The session: resumed, or new.
	expiry := time.Duration(0)
	if v == mqttV311 && !clean {
		expiry = min(s.cfg.ReconnectWindow, mqttMaxSessionExpiry)
	}
	requested := uint32(0)
	if v == mqttV5 {
		requested = pk.Properties.SessionExpiryInterval
		expiry = min(time.Duration(requested)*time.Second, mqttMaxSessionExpiry, s.cfg.ReconnectWindow)
	}
	s.mqttMu.Lock()
	old := h.conn(clientID)
	if old != nil && old.mq == nil {
		s.mqttMu.Unlock()
		mc.refuse(v, pick(v, 2, 0x85), "The client id is in use by a WebSocket connection.", nil)
		return false
	}
	present := old != nil && !clean && !old.isEnded()
	var (
		c        *conn
		takenOld *packets.Packet // the will of a socket this CONNECT takes over, due now
	)
	if present {
		c = old
		if c.mq.isOnline() {
			// The old socket is still open: it is told before attach
			// closes it, at its own protocol level.
			c.mq.takeOver(c.socketNow(), c.mq.version())
		}
		takenOld = c.mq.reconnected(v, pk, expiry, mc.physID)
	} else {
		if old != nil {
			s.mqttMu.Unlock()
			// A clean start ends the old session first ([MQTT-3.1.2-4]).
			old.mq.setServerDisconnect(packets.ErrSessionTakenOver.Code, mqttTakenOverReason)
			old.close(closeReason{code: websocket.StatusNormalClosure, reason: "SessionTakenOver: a new connection with the same client id started a clean session."})
			s.mqttMu.Lock()
			if h.conn(clientID) != nil {
				s.mqttMu.Unlock()
				mc.refuse(v, pick(v, 3, 0x89), "Another connection with this client id is starting.", nil)
				return false
			}
		}
		c = &conn{
			s: s, h: h, id: clientID, ord: s.ords.Add(1), userID: userID, subprotocol: mqttSubprotocol,
			since: time.Now(), claims: req.Claims, groups: map[string]struct{}{},
		}
		c.mq = newMQTTSession(c, v, pk, expiry)
		c.proto = c.mq
		for _, role := range roles {
			c.perms.addRole(role)
		}
	}
	if res.set {
		c.setState(res.state)
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: v, SessionPresent: present}
	if v == mqttV5 {
		p := &ack.Properties
		if requested != uint32(expiry/time.Second) {
			p.SessionExpiryInterval, p.SessionExpiryIntervalFlag = uint32(expiry/time.Second), true
		}
		if assigned {
			p.AssignedClientID = clientID
		}
		if serverKeepAlive >= 0 {
			p.ServerKeepAlive, p.ServerKeepAliveFlag = uint16(serverKeepAlive), true
		}
		p.ReceiveMaximum = mqttServerReceiveMax
		p.MaximumPacketSize = uint32(s.cfg.MaxMessageBytes)
		p.RetainAvailable, p.RetainAvailableFlag = 0, true
		p.WildcardSubAvailable, p.WildcardSubAvailableFlag = 0, true
		// Subscription Identifier Available absent means 1: supported
		// (mqtt_subid.go).
		p.SharedSubAvailable, p.SharedSubAvailableFlag = 0, true
		// Topic Alias Maximum absent means 0: no topic aliases.
		p.User = toMochiProps(ackProps)
	}
	connack, err := encodeMQTT(&ack)
	if err != nil {
		s.mqttMu.Unlock()
		mc.refuse(v, pick(v, 3, 0x80), "Encoding the CONNACK failed.", nil)
		return false
	}
	var joined []string
	if !present {
		joined = h.add(c, groups)
	}
	attached := c.mq.attach(mc.sk, mc.physID, connack)
	s.mqttMu.Unlock()
	if takenOld != nil {
		c.mq.publishWill(takenOld)
	}
	if !attached {
		mc.sk.ws.Close(websocket.StatusGoingAway, "The session has ended.")
		return false
	}
	mc.c, mc.mq = c, c.mq
	if keepAlive > 0 {
		mc.silence = time.Duration(keepAlive) * 1500 * time.Millisecond
		mc.idle.Reset(mc.silence)
	} else {
		mc.idle.Stop()
	}
	if !present {
		s.log.Info("emulator: MQTT client connected", "hub", h.name, "connectionId", c.id, "userId", c.userID, "version", v)
		s.trace(TraceEvent{Kind: TraceConnected, Hub: h.name, ConnectionID: c.id, UserID: c.userID, Summary: "connected MQTT " + mqttVersionName(v)})
		s.up.connected(c)
		for _, g := range joined {
			c.mq.subscribeDefault(g)
			c.joined(g)
		}
	} else {
		s.log.Info("emulator: MQTT client resumed its session", "hub", h.name, "connectionId", c.id)
		s.trace(TraceEvent{Kind: TraceConnected, Hub: h.name, ConnectionID: c.id, UserID: c.userID, Summary: "resumed MQTT " + mqttVersionName(v) + " session"})
	}
	if s.closing.Load() {
		c.close(closeServiceShutdown)
	}
	return true
}

// pick returns the 3.1.1 code for level 4, the 5.0 code for level 5.
func pick(v byte, v311, v5 byte) byte {
	if v == mqttV5 {
		return v5
	}
	return v311
}

func mqttVersionName(v byte) string {
	if v == mqttV5 {
		return "5.0"
	}
	return "3.1.1"
}

func validMQTTClientID(id string) bool {
	if id == "" || len(id) > mqttMaxClientID {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !('0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z') {
			return false
		}
	}
	return true
}

// newAlnumID is an assigned client id: letters and digits only, as the
// service's client ids are.
func newAlnumID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := []byte(newSecret())
	out := make([]byte, 0, 24)
	for _, x := range b {
		out = append(out, alphabet[int(x)%len(alphabet)])
		if len(out) == cap(out) {
			break
		}
	}
	return string(out)
}

// mqttAudienceOK reports whether the token's aud is this hub's MQTT client
// endpoint, <any endpoint>/clients/mqtt/hubs/<hub>, as pkg/wps and
// :generateToken?clientType=MQTT mint it.
func mqttAudienceOK(claims jwt.MapClaims, hub string) bool {
	for _, a := range audiences(claims) {
		i := strings.Index(a, "://")
		if i < 0 {
			continue
		}
		p := a[i+3:]
		if j := strings.IndexByte(p, '/'); j >= 0 {
			p = p[j:]
		} else {
			p = ""
		}
		if strings.EqualFold(strings.TrimRight(p, "/"), "/clients/mqtt/hubs/"+hub) {
			return true
		}
	}
	return false
}

// mqttRefusal turns a refused connect event into a CONNACK code, reason and
// user properties. The handler's {"mqtt":{"code":...}} is copied when valid
// for the version; without it the status maps as Microsoft's SDKs map
// fail(400|401|500): 3.1.1 codes 4, 5, 3 and 5.0 codes 0x86, 0x87, 0x80.
func mqttRefusal(v byte, err error) (code byte, reason string, props []cloudevents.MQTTUserProperty) {
	var ce *cloudevents.Error
	if !errors.As(err, &ce) {
		return pick(v, 3, 0x80), "The connect event handler failed.", nil
	}
	reason = ce.Message
	if ce.MQTT != nil {
		c := ce.MQTT.Code
		if ce.MQTT.Reason != "" {
			reason = ce.MQTT.Reason
		}
		props = ce.MQTT.UserProperties
		switch {
		case v == mqttV311 && c >= 1 && c <= 5:
			return byte(c), reason, props
		case v == mqttV311:
			return mqttV5ToV3(c), reason, props
		case v == mqttV5 && validConnackReason(c):
			return byte(c), reason, props
		default:
			return 0x80, reason, props
		}
	}
	switch {
	case ce.Status == http.StatusBadRequest:
		return pick(v, 4, 0x86), reason, nil
	case ce.Status == http.StatusUnauthorized || ce.Status == http.StatusForbidden:
		return pick(v, 5, 0x87), reason, nil
	default:
		return pick(v, 3, 0x80), reason, nil
	}
}

// mqttV5ToV3 maps a 5.0 CONNACK reason to the 3.1.1 return code that means
// the same; others are "server unavailable".
func mqttV5ToV3(c int) byte {
	switch c {
	case 0x84:
		return 1
	case 0x85:
		return 2
	case 0x86:
		return 4
	case 0x87, 0x8A:
		return 5
	}
	return 3
}

// validConnackReason reports whether c is an MQTT 5 CONNACK failure reason.
func validConnackReason(c int) bool {
	switch c {
	case 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
		0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F:
		return true
	}
	return false
}

func toMochiProps(ps []cloudevents.MQTTUserProperty) []packets.UserProperty {
	if len(ps) == 0 {
		return nil
	}
	out := make([]packets.UserProperty, len(ps))
	for i, p := range ps {
		out[i] = packets.UserProperty{Key: p.Name, Val: p.Value}
	}
	return out
}

func fromMochiProps(ps []packets.UserProperty) []cloudevents.MQTTUserProperty {
	if len(ps) == 0 {
		return nil
	}
	out := make([]cloudevents.MQTTUserProperty, len(ps))
	for i, p := range ps {
		out[i] = cloudevents.MQTTUserProperty{Name: p.Key, Value: p.Val}
	}
	return out
}
