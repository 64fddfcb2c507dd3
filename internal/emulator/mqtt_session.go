package emulator

import (
	"bufio"
	"bytes"
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// mqttSession is the MQTT state of a conn (conn.mq): what outlives its
// network connections. Lock order: hub.mu, then mqttSession.mu, then
// conn.omu; nothing here takes hub.mu while holding mu.
type mqttSession struct {
	c         *conn
	sessionID string

	// ver (protocol level) and exp (how long the session outlives its
	// socket, ns) are read without mu: conn.close and socketGone ask with
	// conn.omu held, which comes after mu.
	ver atomic.Uint32
	exp atomic.Int64
	// dmu guards the server's DISCONNECT for the next close (a leaf lock,
	// also taken with conn.omu held).
	dmu        sync.Mutex
	discCode   byte
	discReason string
	// sent is the DISCONNECT the server sent on the last network
	// connection (5.0), for the disconnected event; nil if none.
	sent *cloudevents.MQTTDisconnectPacket

	mu        sync.Mutex
	recvMax   int    // QoS 1/2 messages the client takes unacknowledged
	maxPacket int    // the client's Maximum Packet Size (0: none)
	physID    string // the current network connection
	online    bool
	subs      map[string]mqttSub
	nextID    uint16
	order     uint64
	inflight  map[uint16]mqttOut
	backlog   []mqttOut
	backBytes int
	received  map[uint16]struct{} // inbound QoS 2 ids awaiting PUBREL
	will      *packets.Packet
	willTimer *time.Timer
	// How the last network connection ended, for the disconnected event.
	byClient   bool
	discPacket *cloudevents.MQTTDisconnectPacket
}

func (m *mqttSession) version() byte         { return byte(m.ver.Load()) }
func (m *mqttSession) expiry() time.Duration { return time.Duration(m.exp.Load()) }

// mqttSub is one subscription's options.
type mqttSub struct {
	qos     byte
	noLocal bool
	id      int // MQTT 5 subscription identifier; 0 for none
}

// defaultSub is a subscription made by REST, the token's groups or the
// connect event: QoS 1, the QoS of the service's sends.
var defaultSub = mqttSub{qos: 1}

// mqttOut is a QoS 1 or 2 message to the client, until acknowledged. It is
// kept by value (inflight, backlog) and its bytes are the fan-out's one
// encoding, shared by every session: the packet id is written into the
// copy that goes out (outMsg.mqttID), so a fan-out allocates nothing per
// subscriber.
type mqttOut struct {
	tmpl     []byte // the encoded PUBLISH, packet id 1 (nil once released)
	id       uint16
	seq      uint64
	qos      byte
	released bool  // QoS 2: PUBREC received, PUBREL sent
	expires  int64 // Server.now clock; 0 never
	expOff   int   // offset of the 5.0 Message Expiry Interval in tmpl; 0 none
}

func newMQTTSession(c *conn, v byte, pk *packets.Packet, expiry time.Duration) *mqttSession {
	m := &mqttSession{c: c, sessionID: c.s.newID(), subs: map[string]mqttSub{},
		inflight: map[uint16]mqttOut{}, received: map[uint16]struct{}{}}
	m.configure(v, pk, expiry)
	return m
}

// configure applies a CONNECT's session parameters; m.mu held or m unshared.
func (m *mqttSession) configure(v byte, pk *packets.Packet, expiry time.Duration) {
	m.ver.Store(uint32(v))
	m.exp.Store(int64(expiry))
	m.recvMax, m.maxPacket = mqttMaxInflight, 0
	if v == mqttV5 {
		if rm := int(pk.Properties.ReceiveMaximum); rm > 0 {
			m.recvMax = min(rm, mqttMaxInflight)
		}
		m.maxPacket = int(pk.Properties.MaximumPacketSize)
	}
	m.will = nil
	if pk.Connect.WillFlag {
		w := packets.Packet{TopicName: pk.Connect.WillTopic, Payload: pk.Connect.WillPayload, ProtocolVersion: v,
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: pk.Connect.WillQos}}
		w.Properties = pk.Connect.WillProperties
		m.will = &w
	}
	m.byClient, m.discPacket = false, nil
	m.dmu.Lock()
	m.discCode, m.discReason, m.sent = 0, "", nil
	m.dmu.Unlock()
}

// reconnected applies a resuming CONNECT. When it takes the session over
// from a network connection still open, it returns that connection's will
// if the will has no delay: the server closes the old connection without a
// DISCONNECT 0x00, so the will is due at once ([MQTT-3.1.4-3], 3.1.2.5); a
// delayed will is cancelled by the resume, as after a drop. physID, the new
// socket's, is the session's from here on, so the old socket ending before
// attach neither takes the new will nor marks the session offline.
func (m *mqttSession) reconnected(v byte, pk *packets.Packet, expiry time.Duration, physID string) (will *packets.Packet) {
	m.mu.Lock()
	if m.willTimer != nil && m.willTimer.Stop() { // [MQTT-3.1.3-9]: no will when the session resumes in time
		m.c.s.conns.Done()
	}
	m.willTimer = nil
	if w := m.will; w != nil && m.online && (m.version() != mqttV5 || w.Properties.WillDelayInterval == 0) {
		will = w
	}
	if old := m.version(); old != v {
		m.reencodeLocked(old, v)
	}
	m.configure(v, pk, expiry)
	m.physID = physID
	m.mu.Unlock()
	return will
}

// reencodeLocked re-encodes the messages waiting for the session (inflight
// and backlog) for protocol level to, when a session of level from resumes
// at another: a 3.1.1 PUBLISH has no properties, and a 5.0 client would read
// the bytes after its packet id as them. Topic, payload, QoS and flags carry
// over, and a 5.0 Message Expiry Interval is set again from the message's
// expiry; other 5.0 properties do not exist in 3.1.1 (and were never
// encoded for a 3.1.1 session). A message that cannot be re-encoded is
// dropped, as one the client could not read. m.mu held.
func (m *mqttSession) reencodeLocked(from, to byte) {
	re := func(o *mqttOut) bool {
		if o.tmpl == nil { // released QoS 2: only its PUBREL is left
			return true
		}
		pk, err := readMQTTPacket(bufio.NewReader(bytes.NewReader(o.tmpl)), from, len(o.tmpl))
		if err != nil {
			return false
		}
		pk.ProtocolVersion, pk.Properties = to, packets.Properties{}
		if to == mqttV5 && o.expires != 0 {
			pk.Properties.MessageExpiryInterval = 1 // the real value is written when it goes out
		}
		b, err := encodeMQTT(&pk)
		if err != nil {
			return false
		}
		o.tmpl, o.expOff = b, 0
		if to == mqttV5 && o.expires != 0 {
			if off := mqttPacketIDOffset(b); off > 0 {
				o.expOff = mqttExpiryOffset(b, off)
			}
		}
		return true
	}
	for id, o := range m.inflight {
		if re(&o) {
			m.inflight[id] = o
		} else {
			delete(m.inflight, id)
		}
	}
	kept := m.backlog[:0]
	m.backBytes = 0
	for _, o := range m.backlog {
		if re(&o) {
			kept = append(kept, o)
			m.backBytes += len(o.tmpl)
		}
	}
	clear(m.backlog[len(kept):])
	m.backlog = kept
	if len(m.backlog) == 0 {
		m.backlog = nil
	}
}

// attach makes sk the session's socket: the CONNACK first, then the
// unacknowledged messages again (DUP set) in their order, then what waited
// for the inflight window.
func (m *mqttSession) attach(sk *socket, physID string, connack []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.physID, m.online = physID, true
	first := []outMsg{{typ: websocket.MessageBinary, data: connack, kind: kindSystem}}
	outs := make([]mqttOut, 0, len(m.inflight))
	for _, o := range m.inflight {
		outs = append(outs, o)
	}
	slices.SortFunc(outs, func(a, b mqttOut) int { return cmp.Compare(a.seq, b.seq) })
	for _, o := range outs {
		if o.released {
			first = append(first, m.ackMsg(packets.Pubrel, o.id, 0))
			continue
		}
		dup := append([]byte(nil), o.tmpl...)
		dup[0] |= 0x08
		setMQTTPacketID(dup, o.id)
		if o.expOff > 0 {
			setMQTTExpiry(dup, o.expOff, o.expires-m.c.s.now())
		}
		first = append(first, outMsg{typ: websocket.MessageBinary, data: dup, kind: kindMessage})
	}
	for len(m.backlog) > 0 && len(m.inflight) < m.recvMax {
		o := m.popBacklogLocked()
		if o.expires != 0 && m.c.s.now() >= o.expires {
			continue
		}
		first = append(first, m.assignLocked(o))
	}
	return m.c.attach(sk, first...)
}

// detach marks the session offline after physID's socket ended (unless a
// newer socket took over).
func (m *mqttSession) detach(physID string) {
	m.mu.Lock()
	if m.physID == physID {
		m.online = false
	}
	m.mu.Unlock()
}

// ids are the physical connection and session ids for upstream events.
func (m *mqttSession) ids() (phys, session string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.physID, m.sessionID
}

func (m *mqttSession) window() time.Duration { return m.expiry() }

func (m *mqttSession) setServerDisconnect(code byte, reason string) {
	m.dmu.Lock()
	m.discCode, m.discReason = code, reason
	m.dmu.Unlock()
}

// disconnectFrame is the 5.0 DISCONNECT the server sends when it closes the
// connection for r (3.1.1 has none: the server just closes).
func (m *mqttSession) disconnectFrame(why string) (outMsg, bool) {
	m.dmu.Lock()
	code, reason := m.discCode, m.discReason
	m.dmu.Unlock()
	if m.version() != mqttV5 {
		return outMsg{}, false
	}
	if code == 0 {
		code = packets.ErrAdministrativeAction.Code
		if why == closeServiceShutdown.reason {
			code = packets.ErrServerShuttingDown.Code
		}
		reason = why
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: mqttV5, ReasonCode: code}
	pk.Properties.ReasonString = truncateReason(reason)
	b, err := encodeMQTT(&pk)
	if err != nil {
		return outMsg{}, false
	}
	m.serverSent(code)
	return outMsg{typ: websocket.MessageBinary, data: b, kind: kindSystem}, true
}

// serverSent records the DISCONNECT the server sent (5.0 only; a 3.1.1
// client is just closed).
func (m *mqttSession) serverSent(code byte) {
	m.dmu.Lock()
	m.sent = &cloudevents.MQTTDisconnectPacket{Code: int(code)}
	m.dmu.Unlock()
}

// disconnectedProps are the disconnected event's mqtt fields: the client's
// DISCONNECT, or else the server's (its user properties null, as the
// service sends them), or null when none was sent (an I/O error).
func (m *mqttSession) disconnectedProps() *cloudevents.MQTTDisconnectedProperties {
	m.mu.Lock()
	byClient, dp := m.byClient, m.discPacket
	m.mu.Unlock()
	if dp == nil && !byClient {
		m.dmu.Lock()
		dp = m.sent
		m.dmu.Unlock()
	}
	return &cloudevents.MQTTDisconnectedProperties{InitiatedByClient: byClient, DisconnectPacket: dp}
}

// takeOver ends the network connection of a session that a new CONNECT
// with the same client id resumes while the old socket is still open: a
// 5.0 client gets DISCONNECT 0x8E (Session taken over) first, a 3.1.1
// client is just closed ([MQTT-3.1.4-3]). sk is the old socket, v its
// protocol level; conn.attach closes it after this.
func (m *mqttSession) takeOver(sk *socket, v byte) {
	if sk == nil || v != mqttV5 {
		return
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: mqttV5, ReasonCode: packets.ErrSessionTakenOver.Code}
	pk.Properties.ReasonString = mqttTakenOverReason
	b, err := encodeMQTT(&pk)
	if err != nil {
		return
	}
	// Bounded: the old peer may have stopped reading.
	writeNow(sk, b, mqttTakeOverWriteTimeout)
	c := m.c
	if c.s.tracing() {
		c.s.traceMQTT(TraceFrameOut, c.h.name, c.id, c.userID, &pk)
	}
}

// mqttTakenOverReason is the reason string of a takeover's DISCONNECT.
const mqttTakenOverReason = "Session taken over: another network connection with the same client id connected."

// mqttTakeOverWriteTimeout bounds the takeover DISCONNECT to the old socket,
// written while the session's new CONNECT waits.
const mqttTakeOverWriteTimeout = time.Second

// socketNow is c's current socket (nil when none is attached).
func (c *conn) socketNow() *socket {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.sock
}

// isOnline reports whether a network connection is attached to the session.
func (m *mqttSession) isOnline() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.online
}

// ended runs when the session ends: a delayed will goes out now, and so
// does the will of a network connection the service is closing (a REST
// close, a clean-start takeover): it ends without the client's DISCONNECT
// 0x00 (3.1.2.5). A shutting-down emulator sends no wills.
func (m *mqttSession) ended() {
	m.mu.Lock()
	t, w, online := m.willTimer, m.will, m.online
	m.willTimer, m.will = nil, nil
	m.online = false
	m.mu.Unlock()
	if t == nil {
		if w != nil && online && !m.c.s.closing.Load() {
			m.publishWill(w)
		}
		return
	}
	if t.Stop() {
		m.c.s.conns.Done() // else the timer's func, running now, counts itself out
	}
	// Whichever of this and the timer's func took the will publishes it: a
	// session that ends as its will delay runs out sends it once.
	if w != nil {
		m.publishWill(w)
	}
}

// subscribeDefault records the default options for a group joined on
// connect.
func (m *mqttSession) subscribeDefault(g string) {
	m.mu.Lock()
	if _, ok := m.subs[g]; !ok {
		m.subs[g] = defaultSub
	}
	m.mu.Unlock()
}

// mqttDelivery is the MQTT side of a delivery: the publisher's QoS and
// properties (nil for messages from REST and WebSocket clients, sent at
// QoS 1), and the PUBLISH encoded once per version and QoS.
type mqttDelivery struct {
	qos    byte
	props  *packets.Properties // MQTT publisher's properties, for MQTT receivers
	sender *conn
	enc    [2][3][]byte
	expiry uint32 // seconds left, computed once
	done   [2][3]bool
	// bySubID: 5.0 encodings that carry a subscription identifier
	// (mqtt_subid.go), made only for sessions that subscribed with one.
	bySubID map[mqttSubIDKey][]byte
}

func (d *delivery) mqttInfo() *mqttDelivery {
	if d.mqtt == nil {
		d.mqtt = &mqttDelivery{qos: 1}
	}
	return d.mqtt
}

// publish is the encoded PUBLISH of d for version v at qos, packet id 1 as a
// placeholder (nil if it cannot be encoded).
func (md *mqttDelivery) publish(s *Server, d *delivery, v, qos byte, topic string) []byte {
	vi := 0
	if v == mqttV5 {
		vi = 1
	}
	if md.done[vi][qos] {
		return md.enc[vi][qos]
	}
	md.done[vi][qos] = true
	pk, ok := md.publishPacket(s, d, v, qos, topic)
	if !ok {
		return nil
	}
	b, err := encodeMQTT(&pk)
	if err != nil {
		s.log.Debug("emulator: MQTT PUBLISH not encodable", "err", err)
		return nil
	}
	md.enc[vi][qos] = b
	return b
}

// publishPacket is the PUBLISH of d for version v at qos on topic; false
// when d's message expiry has passed.
func (md *mqttDelivery) publishPacket(s *Server, d *delivery, v, qos byte, topic string) (packets.Packet, bool) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic,
		ProtocolVersion: v, Payload: d.p.data, Mods: packets.Mods{AllowResponseInfo: true}}
	if qos > 0 {
		pk.PacketID = 1
	}
	if v == mqttV5 {
		if md.props != nil {
			pk.Properties = md.props.Copy(false)
		} else {
			pk.Properties.ContentType = d.p.contentType()
		}
		if d.expires != 0 {
			left := d.expires - s.now()
			if left <= 0 {
				return pk, false
			}
			pk.Properties.MessageExpiryInterval = uint32((left + int64(time.Second) - 1) / int64(time.Second))
		} else {
			pk.Properties.MessageExpiryInterval = 0
		}
	}
	return pk, true
}

// deliver queues d for the session: on its group's topic, or on
// $webpubsub/server/messages for sends to connections, users and all, at
// min(the message's QoS, the subscription's). ok and claim as conn.deliver.
func (m *mqttSession) deliver(d *delivery) (ok, claim bool) {
	md := d.mqttInfo()
	topic, sub := mqttServerMessages, defaultSub
	m.mu.Lock()
	defer m.mu.Unlock()
	if d.group != "" {
		topic = d.group
		if s, ok := m.subs[d.group]; ok {
			sub = s
		}
		if sub.noLocal && md.sender == m.c {
			return true, false
		}
	}
	qos := min(md.qos, sub.qos)
	var tmpl []byte
	if sub.id != 0 && m.version() == mqttV5 {
		tmpl = md.publishWithSubID(m.c.s, d, qos, topic, sub.id)
	} else {
		tmpl = md.publish(m.c.s, d, m.version(), qos, topic)
	}
	if tmpl == nil || (m.maxPacket > 0 && len(tmpl) > m.maxPacket) {
		return true, false // [MQTT-3.1.2-25]: not sent, as if delivered
	}
	if qos == 0 {
		if !m.online {
			return true, false // QoS 0 is not kept for an offline session
		}
		return m.c.enqueueClaim(outMsg{typ: websocket.MessageBinary, data: tmpl, kind: kindMessage, expires: d.expires}, true)
	}
	o := mqttOut{tmpl: tmpl, qos: qos, expires: d.expires}
	if d.expires != 0 && m.version() == mqttV5 {
		if off := mqttPacketIDOffset(tmpl); off > 0 {
			o.expOff = mqttExpiryOffset(tmpl, off)
		}
	}
	if !m.online || len(m.inflight) >= m.recvMax || len(m.backlog) > 0 {
		return m.queueLocked(o), false
	}
	return m.c.enqueueClaim(m.assignLocked(o), true)
}

// queueLocked keeps o for later; false when the backlog is full while the
// client is online (a slow client). An offline session drops what does not
// fit: the service keeps nothing beyond its bounds either.
func (m *mqttSession) queueLocked(o mqttOut) bool {
	if len(m.backlog) >= m.c.s.cfg.OutboundQueue || m.backBytes+len(o.tmpl) > mqttMaxBacklogBytes {
		if m.online {
			return false
		}
		m.c.s.log.Debug("emulator: message dropped: the offline MQTT session's queue is full", "hub", m.c.h.name, "connectionId", m.c.id)
		return true
	}
	m.backlog = append(m.backlog, o)
	m.backBytes += len(o.tmpl)
	return true
}

func (m *mqttSession) popBacklogLocked() mqttOut {
	o := m.backlog[0]
	m.backlog[0] = mqttOut{}
	m.backlog = m.backlog[1:]
	m.backBytes -= len(o.tmpl)
	if len(m.backlog) == 0 {
		m.backlog = nil
	}
	return o
}

// assignLocked gives o a packet id, records it in flight and returns its
// frame: the shared bytes, the id written in as they are sent.
func (m *mqttSession) assignLocked(o mqttOut) outMsg {
	for {
		m.nextID++
		if m.nextID == 0 {
			m.nextID = 1
		}
		if _, used := m.inflight[m.nextID]; !used {
			break
		}
	}
	o.id = m.nextID
	m.order++
	o.seq = m.order
	if o.expOff > 0 {
		// The shared encoding carries the expiry the message was sent
		// with; this copy leaves with the time it has left
		// ([MQTT-3.3.2-6]), in bytes of its own (only messages with an
		// expiry pay for the copy).
		o.tmpl = append([]byte(nil), o.tmpl...)
		setMQTTExpiry(o.tmpl, o.expOff, o.expires-m.c.s.now())
	}
	m.inflight[o.id] = o
	return outMsg{typ: websocket.MessageBinary, data: o.tmpl, mqttID: o.id, kind: kindMessage}
}

// pumpLocked moves waiting messages into the inflight window and returns
// their frames.
func (m *mqttSession) pumpLocked() []outMsg {
	var out []outMsg
	for m.online && len(m.backlog) > 0 && len(m.inflight) < m.recvMax {
		o := m.popBacklogLocked()
		if o.expires != 0 && m.c.s.now() >= o.expires {
			continue
		}
		out = append(out, m.assignLocked(o))
	}
	return out
}

// ackMsg encodes PUBACK, PUBREC, PUBREL or PUBCOMP.
func (m *mqttSession) ackMsg(typ byte, id uint16, code byte) outMsg {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, ProtocolVersion: m.version(), PacketID: id, ReasonCode: code}
	if typ == packets.Pubrel {
		pk.FixedHeader.Qos = 1
	}
	b, _ := encodeMQTT(&pk) // fixed fields only: cannot fail
	return outMsg{typ: websocket.MessageBinary, data: b, kind: kindAck}
}

// acked handles PUBACK, PUBREC and PUBCOMP from the client.
func (m *mqttSession) acked(pk *packets.Packet) {
	m.mu.Lock()
	var out []outMsg
	o, found := m.inflight[pk.PacketID]
	switch pk.FixedHeader.Type {
	case packets.Puback:
		if found && o.qos == 1 {
			delete(m.inflight, o.id)
		}
	case packets.Pubrec:
		if found && o.qos == 2 {
			if pk.ReasonCode >= 0x80 {
				delete(m.inflight, o.id) // refused: the flow ends ([MQTT-4.3.3-4])
			} else {
				o.released, o.tmpl = true, nil
				m.inflight[o.id] = o
				out = append(out, m.ackMsg(packets.Pubrel, o.id, 0))
			}
		} else if m.version() == mqttV5 {
			out = append(out, m.ackMsg(packets.Pubrel, pk.PacketID, packets.ErrPacketIdentifierNotFound.Code))
		}
	case packets.Pubcomp:
		if found && o.released {
			delete(m.inflight, o.id)
		}
	}
	out = append(out, m.pumpLocked()...)
	m.mu.Unlock()
	m.sendAll(out)
}

// sendAll queues frames for the client, closing it if its queue overflows.
func (m *mqttSession) sendAll(out []outMsg) {
	for _, f := range out {
		if !m.c.enqueue(f) {
			m.c.closeSlow()
			return
		}
	}
}

// How an inbound QoS 2 publish stands (received2).
type mqttInbound int

const (
	mqttNew            mqttInbound = iota
	mqttResent                     // a DUP resend: acknowledged again, not delivered again
	mqttOverReceiveMax             // 5.0: the client exceeded the Receive Maximum advertised
)

// received2 records an inbound QoS 2 packet id. The client's QoS 2
// publishes count against the Receive Maximum the CONNACK advertised until
// their PUBREL: QoS 1 ones are acknowledged before the next packet is read,
// so they never add up. A 3.1.1 session is bounded by its 65,535 ids.
func (m *mqttSession) received2(id uint16) mqttInbound {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.received[id]; ok {
		return mqttResent
	}
	if m.version() == mqttV5 && len(m.received) >= mqttServerReceiveMax {
		return mqttOverReceiveMax
	}
	m.received[id] = struct{}{}
	return mqttNew
}

func (m *mqttSession) released2(id uint16) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.received[id]
	delete(m.received, id)
	return ok
}

// subscribe records a subscription's options.
func (m *mqttSession) subscribe(topic string, s mqttSub) {
	m.mu.Lock()
	m.subs[topic] = s
	m.mu.Unlock()
}

func (m *mqttSession) unsubscribe(topic string) {
	m.mu.Lock()
	delete(m.subs, topic)
	m.mu.Unlock()
}

// socketEnded runs when a network connection ends: it records how, and
// sends the will unless the client disconnected normally.
func (m *mqttSession) socketEnded(physID string, byClient bool, dp *cloudevents.MQTTDisconnectPacket, sendWill bool) {
	m.mu.Lock()
	if m.physID != physID {
		m.mu.Unlock()
		return
	}
	m.online = false
	m.byClient, m.discPacket = byClient, dp
	w := m.will
	m.will = nil
	var delay time.Duration
	if w != nil && sendWill && m.version() == mqttV5 {
		delay = time.Duration(w.Properties.WillDelayInterval) * time.Second
	}
	if w != nil && sendWill && delay > 0 && m.expiry() > 0 {
		m.will = w
		// Counted as the server's work until it runs or is stopped (ended,
		// reconnected), like the emulator's drop timers.
		s := m.c.s
		s.conns.Add(1)
		m.willTimer = time.AfterFunc(min(delay, m.expiry()), func() {
			defer s.conns.Done()
			m.mu.Lock()
			w := m.will
			m.will, m.willTimer = nil, nil
			m.mu.Unlock()
			if w != nil {
				m.publishWill(w)
			}
		})
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	if w != nil && sendWill {
		m.publishWill(w)
	}
}

// publishWill sends the will message to its topic's subscribers, if the
// connection may send there.
func (m *mqttSession) publishWill(w *packets.Packet) {
	c := m.c
	if !c.canSend(w.TopicName) {
		c.s.log.Info("emulator: MQTT will dropped: no permission to send to its topic", "hub", c.h.name, "connectionId", c.id)
		return
	}
	c.s.log.Info("emulator: MQTT will published", "hub", c.h.name, "connectionId", c.id, "topic", w.TopicName)
	c.h.broadcast(&selector{group: w.TopicName}, mqttToDelivery(c, w))
}

func (c *conn) isEnded() bool {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.ended
}

// mqttSession is also the connection's clientProtocol (clientproto.go). Its
// fan-out side is deliver (conn.deliver calls it for MQTT sessions): the
// QoS, packet id and inflight window are per session.

// message is d as a QoS 0 PUBLISH (the protocol interface's encoding; MQTT
// deliveries go through deliver).
func (m *mqttSession) message(d *delivery) outMsg {
	topic := mqttServerMessages
	if d.group != "" {
		topic = d.group
	}
	return outMsg{typ: websocket.MessageBinary, data: d.mqttInfo().publish(m.c.s, d, m.version(), 0, topic), kind: kindMessage, expires: d.expires}
}

// goodbye is the 5.0 DISCONNECT the server sends when it ends the session.
func (m *mqttSession) goodbye(reason string) (outMsg, bool) { return m.disconnectFrame(reason) }

// handle is unused: MQTT packets are a byte stream across WebSocket
// messages, read by mqttConn.readLoop, not per frame.
func (m *mqttSession) handle(*conn, websocket.MessageType, []byte) {}

// resumable: a session with an expiry outlives its socket that long
// (conn.socketGone asks window for how long).
func (m *mqttSession) resumable() bool { return m.expiry() > 0 }
