package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// readLoop reads the client's packets after CONNECT until the network
// connection ends, then leaves the session to its expiry.
func (mc *mqttConn) readLoop() {
	s, c, m, sk := mc.s, mc.c, mc.mq, mc.sk
	v := m.version()
	var (
		byClient bool
		dp       *cloudevents.MQTTDisconnectPacket
		sendWill = true
		reason   = closeReason{code: websocket.StatusNormalClosure, reason: "ConnectionLost: the connection was lost.", now: true}
	)
	keepAlive := mc.keepAlive()
	for {
		pk, err := readMQTTPacket(mc.br, v, int(s.cfg.MaxMessageBytes))
		if err != nil {
			var de *mqttDecodeError
			if errors.As(err, &de) {
				mc.protocolError(de.Code, de.Error())
				reason.reason = "ProtocolError: " + de.Error()
			}
			break
		}
		if keepAlive > 0 {
			mc.idle.Reset(keepAlive)
		}
		if s.tracing() {
			s.traceMQTTIn(c.h.name, c.id, c.userID, &pk)
		}
		if !c.waitRoom() {
			break
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			byClient = true
			dp = &cloudevents.MQTTDisconnectPacket{Code: int(pk.ReasonCode), UserProperties: fromMochiProps(pk.Properties.User)}
			sendWill = v == mqttV5 && pk.ReasonCode == packets.CodeDisconnectWillMessage.Code
			if v == mqttV5 && pk.Properties.SessionExpiryIntervalFlag {
				if m.expiry() > 0 { // 0 at CONNECT cannot become non-zero ([MQTT-3.14.2-2])
					m.exp.Store(int64(min(time.Duration(pk.Properties.SessionExpiryInterval)*time.Second, mqttMaxSessionExpiry, s.cfg.ReconnectWindow)))
				}
			}
			reason = closeReason{code: websocket.StatusNormalClosure, reason: "ClientClosed: the client sent DISCONNECT."}
			if pk.Properties.ReasonString != "" {
				reason.reason = pk.Properties.ReasonString
			}
			sk.ws.Close(websocket.StatusNormalClosure, "")
			break
		}
		if !mc.handle(&pk) {
			reason.reason = "ProtocolError: the connection was closed after a packet the protocol or the connection's permissions do not allow."
			break
		}
	}
	m.socketEnded(mc.physID, byClient, dp, sendWill)
	m.detach(mc.physID)
	c.socketGone(sk, true, reason)
}

// keepAlive is how long the client may stay silent: 1.5 times the
// keep-alive the CONNACK settled on ([MQTT-3.1.2-22]); 0 for none.
func (mc *mqttConn) keepAlive() time.Duration { return mc.silence }

// handle processes one packet; false ends the network connection.
func (mc *mqttConn) handle(pk *packets.Packet) bool {
	c, m := mc.c, mc.mq
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return mc.publish(pk)
	case packets.Puback, packets.Pubrec, packets.Pubcomp:
		m.acked(pk)
	case packets.Pubrel:
		code := byte(0)
		if !m.released2(pk.PacketID) && m.version() == mqttV5 {
			code = packets.ErrPacketIdentifierNotFound.Code
		}
		c.send(m.ackMsg(packets.Pubcomp, pk.PacketID, code))
	case packets.Subscribe:
		return mc.subscribe(pk)
	case packets.Unsubscribe:
		return mc.unsubscribe(pk)
	case packets.Pingreq:
		b, _ := encodeMQTT(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
		c.send(outMsg{typ: websocket.MessageBinary, data: b, kind: kindPong})
	case packets.Connect:
		mc.protocolError(packets.ErrProtocolViolationSecondConnect, "a second CONNECT")
		return false
	case packets.Auth:
		mc.protocolError(packets.ErrProtocolViolation, "AUTH without enhanced authentication")
		return false
	}
	return true
}

// protocolError ends the network connection after a packet the protocol
// does not allow: a 5.0 client gets DISCONNECT with the reason code first
// ([MQTT-4.13.1-1]); a 3.1.1 one is just closed. The session itself
// follows its expiry, as after any drop.
func (mc *mqttConn) protocolError(code packets.Code, why string) {
	s, sk := mc.s, mc.sk
	hub, id := mc.hubName, ""
	v := byte(0)
	if mc.c != nil {
		hub, id = mc.c.h.name, mc.c.id
		v = mc.mq.version()
	}
	s.log.Info("emulator: closing MQTT connection after a protocol error", "hub", hub, "connectionId", id, "code", code.Code, "reason", why)
	if v == mqttV5 {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: mqttV5, ReasonCode: code.Code}
		pk.Properties.ReasonString = truncateReason(why)
		if b, err := encodeMQTT(&pk); err == nil {
			writeNow(sk, b, writeTimeout)
			mc.mq.serverSent(code.Code)
			if s.tracing() && mc.c != nil {
				s.traceMQTT(TraceFrameOut, hub, id, mc.c.userID, &pk)
			}
		}
	}
	sk.ws.CloseNow()
}

// writeNow writes one binary message to sk at once, past its queue: a last
// packet before the socket is closed. The corkWriter's lock keeps it from
// landing inside a frame that sk's writeLoop is writing.
func writeNow(sk *socket, b []byte, timeout time.Duration) {
	if sk.cork != nil {
		var scratch []byte
		sk.cork.writeFrames([]outMsg{{typ: websocket.MessageBinary, data: b, kind: kindSystem}}, &scratch, timeout)
		return
	}
	ctx, cancel := context.WithTimeout(sk.ctx, timeout)
	sk.ws.Write(ctx, websocket.MessageBinary, b)
	cancel()
}

// mqttToDelivery is what an MQTT publish delivers: the payload typed by its
// 5.0 content type for WebSocket receivers (3.1.1 and untyped payloads are
// binary), the QoS and the properties that MQTT receivers get.
func mqttToDelivery(c *conn, pk *packets.Packet) *delivery {
	p := payload{dataType: dataBinary, data: pk.Payload}
	if pk.ProtocolVersion == mqttV5 {
		switch strings.ToLower(strings.TrimSpace(strings.SplitN(pk.Properties.ContentType, ";", 2)[0])) {
		case "application/json":
			if json.Valid(pk.Payload) {
				p.dataType = dataJSON
			}
		case "text/plain":
			if utf8.Valid(pk.Payload) {
				p.dataType = dataText
			}
		}
	}
	props := packets.Properties{
		PayloadFormat: pk.Properties.PayloadFormat, PayloadFormatFlag: pk.Properties.PayloadFormatFlag,
		ContentType: pk.Properties.ContentType, ResponseTopic: pk.Properties.ResponseTopic,
		CorrelationData: pk.Properties.CorrelationData, User: pk.Properties.User,
	}
	d := &delivery{p: p, from: "group", group: pk.TopicName, fromUserID: c.userID,
		mqtt: &mqttDelivery{qos: pk.FixedHeader.Qos, props: &props, sender: c}}
	if e := pk.Properties.MessageExpiryInterval; e > 0 && pk.ProtocolVersion == mqttV5 {
		d.expires = c.s.now() + int64(e)*int64(time.Second)
	}
	return d
}

// publish handles PUBLISH: a user event for $webpubsub/server/events/*, else
// a message to the topic's group, then the acknowledgement for its QoS.
func (mc *mqttConn) publish(pk *packets.Packet) bool {
	c, m := mc.c, mc.mq
	v, qos := pk.ProtocolVersion, pk.FixedHeader.Qos
	if code := pk.PublishValidate(0); code != packets.CodeSuccess {
		// Wildcards in a topic name, a topic alias (maximum 0), a missing id.
		mc.protocolError(code, code.Reason)
		return false
	}
	if pk.FixedHeader.Retain && v == mqttV5 {
		mc.protocolError(packets.ErrRetainNotSupported, "retained messages are not supported")
		return false
	}
	if v == mqttV5 && pk.Properties.PayloadFormatFlag && pk.Properties.PayloadFormat == 1 && !utf8.Valid(pk.Payload) {
		mc.protocolError(packets.ErrPayloadFormatInvalid, "the payload is not UTF-8 as its format indicator says")
		return false
	}
	if qos == 2 {
		switch m.received2(pk.PacketID) {
		case mqttResent:
			c.send(m.ackMsg(packets.Pubrec, pk.PacketID, 0)) // already delivered
			return true
		case mqttOverReceiveMax:
			// [MQTT-3.3.4-9]: more unacknowledged publishes than the
			// CONNACK's Receive Maximum allows.
			mc.protocolError(packets.ErrReceiveMaximum, "more than "+strconv.Itoa(mqttServerReceiveMax)+" QoS 2 publishes awaiting PUBREL")
			return false
		}
	}
	if name, ok := strings.CutPrefix(pk.TopicName, mqttEventsPrefix); ok && name != "" && !strings.Contains(name, "/") {
		mc.ack(pk, 0)
		mc.userEvent(name, pk)
		return true
	}
	topic := pk.TopicName
	if !wps.ValidGroup(topic) || strings.HasPrefix(topic, mqttReservedPrefix) || !c.canSend(topic) {
		c.s.log.Info("emulator: MQTT publish refused: no permission to send to the topic", "hub", c.h.name, "connectionId", c.id, "topic", quoteShort(topic))
		if qos == 0 {
			// The service closes the connection for an unauthorised QoS 0
			// publish (azure-webpubsub#793).
			mc.protocolError(packets.ErrNotAuthorized, "no permission to publish to "+quoteShort(topic))
			return false
		}
		if v == mqttV5 {
			mc.ack(pk, packets.ErrNotAuthorized.Code)
		} else {
			mc.ack(pk, 0) // 3.1.1 can only acknowledge or close: acknowledged, dropped
		}
		if qos == 2 && v == mqttV5 {
			m.released2(pk.PacketID) // a refused PUBREC ends the flow
		}
		return true
	}
	// The fan-out is written while the next packets are read, so that a
	// stream of publishes leaves in few system calls per subscriber.
	mc.fanouts <- struct{}{}
	n := c.h.broadcastAsync(&selector{group: topic}, mqttToDelivery(c, pk), mc.release)
	code := byte(0)
	if n == 0 && v == mqttV5 {
		code = packets.CodeNoMatchingSubscribers.Code
	}
	mc.ack(pk, code)
	return true
}

// ack acknowledges a publish at its QoS.
func (mc *mqttConn) ack(pk *packets.Packet, code byte) {
	switch pk.FixedHeader.Qos {
	case 1:
		mc.c.send(mc.mq.ackMsg(packets.Puback, pk.PacketID, code))
	case 2:
		mc.c.send(mc.mq.ackMsg(packets.Pubrec, pk.PacketID, code))
	}
}

// userEvent sends the user event of a publish to $webpubsub/server/events/
// {name} and publishes the answer back on .../succeeded or .../failed.
func (mc *mqttConn) userEvent(name string, pk *packets.Packet) {
	c, m := mc.c, mc.mq
	s := c.s
	ct := "application/octet-stream"
	if pk.ProtocolVersion == mqttV5 && pk.Properties.ContentType != "" {
		ct = pk.Properties.ContentType
	}
	status, body, respCT, props := 0, []byte(nil), "", []cloudevents.MQTTUserProperty(nil)
	eh := handlerFor(c.h, "user", name)
	if eh == nil {
		status, body, respCT = 404, []byte("No event handler is registered for event "+quoteShort(name)+"."), "text/plain"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.UpstreamTimeout)
		req := &cloudevents.UserEventRequest{ConnectionContext: c.context(name), Data: pk.Payload, ContentType: ct,
			MQTTUserProperties: fromMochiProps(pk.Properties.User)}
		ans, err := s.up.call(ctx, c.h, eh, name, req, &req.ConnectionContext)
		cancel()
		if err != nil || ans == nil {
			status, body, respCT = 502, []byte("The event handler could not be reached."), "text/plain"
		} else {
			status, body, respCT = ans.Status, ans.Body, ans.Header.Get("Content-Type")
			if st, ok := ans.State(); ok && ans.OK() {
				c.setState(st)
			}
			if r, err := ans.UserEvent(); err == nil && r != nil {
				props = r.MQTTUserProperties
			}
		}
	}
	topic := mqttEventsPrefix + name + "/failed"
	if status >= 200 && status < 300 {
		topic = mqttEventsPrefix + name + "/succeeded"
	}
	if status == 204 {
		return // no content: nothing is sent (as for WebSocket clients)
	}
	reply := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: min(pk.FixedHeader.Qos, 1)},
		TopicName: topic, ProtocolVersion: pk.ProtocolVersion, Payload: body, Mods: packets.Mods{AllowResponseInfo: true}}
	if pk.ProtocolVersion == mqttV5 {
		reply.Properties.ContentType = respCT
		reply.Properties.CorrelationData = pk.Properties.CorrelationData
		reply.Properties.User = append(toMochiProps(props), packets.UserProperty{Key: "azure-status-code", Val: strconv.Itoa(status)})
	}
	if reply.FixedHeader.Qos > 0 {
		reply.PacketID = 1
	}
	b, err := encodeMQTT(&reply)
	if err != nil {
		return
	}
	m.mu.Lock()
	var f outMsg
	if reply.FixedHeader.Qos == 0 {
		f = outMsg{typ: websocket.MessageBinary, data: b, kind: kindMessage}
	} else {
		f = m.assignLocked(mqttOut{tmpl: b, qos: 1})
	}
	m.mu.Unlock()
	c.send(f)
}

// subscribe handles SUBSCRIBE: each filter is a group joined, or refused.
func (mc *mqttConn) subscribe(pk *packets.Packet) bool {
	c, m := mc.c, mc.mq
	v := pk.ProtocolVersion
	if code := pk.SubscribeValidate(); code != packets.CodeSuccess {
		mc.protocolError(code, code.Reason)
		return false
	}
	subID, ok := subscriptionID(pk)
	if !ok {
		mc.protocolError(packets.ErrProtocolViolation, "a SUBSCRIBE must carry at most one subscription identifier, from 1 to 268435455")
		return false
	}
	codes := make([]byte, len(pk.Filters))
	var joined []string
	for i, f := range pk.Filters {
		t := f.Filter
		qos := min(f.Qos, 2)
		switch {
		case strings.HasPrefix(t, "$share/"):
			codes[i] = pick(v, 0x80, packets.ErrSharedSubscriptionsNotSupported.Code)
		case strings.ContainsAny(t, "+#"):
			codes[i] = pick(v, 0x80, packets.ErrWildcardSubscriptionsNotSupported.Code)
		case strings.HasPrefix(t, mqttReservedPrefix):
			// Server messages and event replies arrive without a
			// subscription; subscribing to them is harmless.
			codes[i] = min(qos, 1)
		case !wps.ValidGroup(t):
			codes[i] = pick(v, 0x80, packets.ErrTopicFilterInvalid.Code)
		case !c.canJoin(t):
			c.s.log.Info("emulator: MQTT subscribe refused: no permission to join the topic", "hub", c.h.name, "connectionId", c.id, "topic", quoteShort(t))
			codes[i] = pick(v, 0x80, packets.ErrNotAuthorized.Code)
		default:
			m.subscribe(t, mqttSub{qos: qos, noLocal: f.NoLocal, id: subID})
			joined = append(joined, t)
			codes[i] = qos
		}
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, ProtocolVersion: v, PacketID: pk.PacketID, ReasonCodes: codes}
	b, err := encodeMQTT(&ack)
	if err != nil {
		return false
	}
	// Joined before the SUBACK: once a client sees it, messages published
	// to the topic reach it ([MQTT-3.8.4-3] lets them precede the SUBACK).
	for _, t := range joined {
		c.h.join(c, t)
	}
	c.send(outMsg{typ: websocket.MessageBinary, data: b, kind: kindAck})
	return true
}

// unsubscribe handles UNSUBSCRIBE: each filter's group is left.
func (mc *mqttConn) unsubscribe(pk *packets.Packet) bool {
	c, m := mc.c, mc.mq
	v := pk.ProtocolVersion
	if code := pk.UnsubscribeValidate(); code != packets.CodeSuccess {
		mc.protocolError(code, code.Reason)
		return false
	}
	codes := make([]byte, len(pk.Filters))
	for i, f := range pk.Filters {
		t := f.Filter
		switch {
		case strings.HasPrefix(t, mqttReservedPrefix):
		case !wps.ValidGroup(t):
			codes[i] = packets.ErrTopicFilterInvalid.Code
		case !c.canJoin(t):
			codes[i] = packets.ErrNotAuthorized.Code
		default:
			m.unsubscribe(t)
			if !c.h.leave(c, t) {
				codes[i] = packets.CodeNoSubscriptionExisted.Code
			}
		}
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, ProtocolVersion: v, PacketID: pk.PacketID, ReasonCodes: codes}
	b, err := encodeMQTT(&ack)
	if err != nil {
		return false
	}
	c.send(outMsg{typ: websocket.MessageBinary, data: b, kind: kindAck})
	return true
}
