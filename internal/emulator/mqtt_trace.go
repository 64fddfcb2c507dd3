package emulator

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The live trace shows MQTT packets as it shows WebSocket frames: one line
// per packet, with its type and the fields that matter to a developer.
// Passwords, authentication data and payloads never appear; a payload is
// shown by its size.

var mqttTypeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func mqttTypeName(t byte) string {
	if int(t) < len(mqttTypeNames) {
		return mqttTypeNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// mqttSummary is the trace line of a packet.
func mqttSummary(pk *packets.Packet) string {
	var b strings.Builder
	b.WriteString(mqttTypeName(pk.FixedHeader.Type))
	field := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	code := func(c byte) { field("code", "0x"+strconv.FormatUint(uint64(c), 16)) }
	switch pk.FixedHeader.Type {
	case packets.Connect:
		field("version", mqttVersionName(pk.ProtocolVersion))
		field("clientId", quoteShort(pk.Connect.ClientIdentifier))
		field("clean", strconv.FormatBool(pk.Connect.Clean))
		field("keepAlive", strconv.Itoa(int(pk.Connect.Keepalive)))
		if pk.Connect.UsernameFlag {
			field("username", quoteShort(string(pk.Connect.Username)))
		}
		if pk.Connect.PasswordFlag {
			field("password", "[redacted]")
		}
		if pk.Connect.WillFlag {
			field("will", quoteShort(pk.Connect.WillTopic))
		}
		if pk.ProtocolVersion == mqttV5 && pk.Properties.SessionExpiryInterval > 0 {
			field("sessionExpiry", strconv.FormatUint(uint64(pk.Properties.SessionExpiryInterval), 10))
		}
	case packets.Connack:
		field("sessionPresent", strconv.FormatBool(pk.SessionPresent))
		code(pk.ReasonCode)
		if id := pk.Properties.AssignedClientID; id != "" {
			field("assignedClientId", id)
		}
	case packets.Publish:
		field("topic", quoteShort(pk.TopicName))
		field("qos", strconv.Itoa(int(pk.FixedHeader.Qos)))
		if pk.FixedHeader.Qos > 0 {
			field("id", strconv.Itoa(int(pk.PacketID)))
		}
		if pk.FixedHeader.Dup {
			field("dup", "true")
		}
		if pk.FixedHeader.Retain {
			field("retain", "true")
		}
		if ct := pk.Properties.ContentType; ct != "" {
			field("contentType", quoteShort(ct))
		}
		field("payload", strconv.Itoa(len(pk.Payload))+" bytes")
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp:
		field("id", strconv.Itoa(int(pk.PacketID)))
		if pk.ReasonCode != 0 {
			code(pk.ReasonCode)
		}
	case packets.Subscribe, packets.Unsubscribe:
		field("id", strconv.Itoa(int(pk.PacketID)))
		for _, f := range pk.Filters {
			if pk.FixedHeader.Type == packets.Subscribe {
				field("topic", quoteShort(f.Filter)+" qos "+strconv.Itoa(int(f.Qos)))
			} else {
				field("topic", quoteShort(f.Filter))
			}
		}
	case packets.Suback, packets.Unsuback:
		field("id", strconv.Itoa(int(pk.PacketID)))
		for _, c := range pk.ReasonCodes {
			code(c)
		}
	case packets.Disconnect:
		if pk.ProtocolVersion == mqttV5 {
			code(pk.ReasonCode)
			if r := pk.Properties.ReasonString; r != "" {
				field("reason", quoteShort(r))
			}
		}
	}
	return b.String()
}

// mqttBytesSummary decodes an encoded packet for the trace.
func mqttBytesSummary(v byte, data []byte) string {
	if len(data) > 0 {
		switch data[0] >> 4 {
		case packets.Connack, packets.Suback, packets.Unsuback, packets.Pingresp:
			pk := decodeServerPacket(v, data)
			return mqttSummary(&pk)
		}
	}
	pk, err := readMQTTPacket(bufio.NewReader(bytes.NewReader(data)), v, len(data))
	if err != nil {
		return "MQTT " + strconv.Itoa(len(data)) + " bytes"
	}
	return mqttSummary(&pk)
}

// decodeServerPacket decodes the packets only the server sends, which
// readMQTTPacket (reading a client) refuses.
func decodeServerPacket(v byte, data []byte) packets.Packet {
	var pk packets.Packet
	if len(data) < 2 || pk.FixedHeader.Decode(data[0]) != nil {
		return pk
	}
	n, used, err := packets.DecodeLength(bytes.NewReader(data[1:]))
	if err != nil || 1+used+n > len(data) {
		return pk
	}
	pk.FixedHeader.Remaining, pk.ProtocolVersion = n, v
	body := data[1+used : 1+used+n]
	switch pk.FixedHeader.Type {
	case packets.Connack:
		pk.ConnackDecode(body)
	case packets.Suback:
		pk.SubackDecode(body)
	case packets.Unsuback:
		pk.UnsubackDecode(body)
	}
	return pk
}

func (s *Server) traceMQTTIn(hub, id, user string, pk *packets.Packet) {
	s.traceMQTT(TraceFrameIn, hub, id, user, pk)
}

func (s *Server) traceMQTT(kind, hub, id, user string, pk *packets.Packet) {
	if !s.tracing() {
		return
	}
	s.trace(TraceEvent{Kind: kind, Hub: hub, ConnectionID: id, UserID: user, Summary: mqttSummary(pk)})
}

// traceMQTTOut traces a written packet of c.
func (c *conn) traceMQTTOut(data []byte) {
	v := c.mq.version()
	c.s.trace(TraceEvent{Kind: TraceFrameOut, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: mqttBytesSummary(v, data)})
}
