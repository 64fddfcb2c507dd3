package emulator

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/jsonstr"
)

// Data types of the JSON subprotocols.
const (
	dataText   = "text"
	dataJSON   = "json"
	dataBinary = "binary"
)

// payload is message data with its type.
type payload struct {
	dataType string // dataText, dataJSON or dataBinary
	data     []byte // for dataJSON: one valid JSON value
}

// payloadFromContentType maps a REST or upstream Content-Type to a payload:
// text/plain → text, application/json → json, anything else → binary.
func payloadFromContentType(ct string, body []byte) payload {
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	switch {
	case mt == "text/plain" || (strings.HasPrefix(mt, "text/") && mt != ""):
		return payload{dataText, body}
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return payload{dataJSON, body}
	default:
		return payload{dataBinary, body}
	}
}

// contentType is the upstream Content-Type of a payload.
func (p payload) contentType() string {
	switch p.dataType {
	case dataText:
		return "text/plain"
	case dataJSON:
		return "application/json"
	default:
		return "application/octet-stream"
	}
}

// appendJSONData appends p as the value of a JSON "data" field.
func (p payload) appendJSONData(b []byte) []byte {
	switch p.dataType {
	case dataJSON:
		return append(b, p.data...)
	case dataText:
		return appendJSONString(b, string(p.data))
	default:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, p.data)
		return append(b, '"')
	}
}

func appendJSONString(b []byte, s string) []byte {
	return jsonstr.Append(b, s)
}

// outMsg is one frame waiting in a connection's queue. When seq is set the
// data is a message tail (see delivery.tail) and the writer prefixes
// {"sequenceId":seq, at write time.
type outMsg struct {
	typ  websocket.MessageType
	data []byte
	seq  uint64
	// expires is when a message sent with messageTtlSeconds is dropped
	// instead of written, on the Server's clock (Server.now); 0: never.
	expires int64
	needSeq bool
	kind    frameKind // for the trace
	// mqttID is the packet id of a QoS 1 or 2 MQTT PUBLISH whose data is
	// the fan-out's shared encoding: every write path writes it into its
	// copy of the bytes (see bytes); 0 for every other frame.
	mqttID uint16
}

// bytes is m's data as sent, the MQTT packet id written in (into scratch)
// when it has one. The corkWriter's path patches its own buffer instead.
func (m *outMsg) bytes(scratch *[]byte) []byte {
	if m.mqttID == 0 {
		return m.data
	}
	*scratch = append((*scratch)[:0], m.data...)
	setMQTTPacketID(*scratch, m.mqttID)
	return *scratch
}

// frameKind is what an outMsg is, for the trace. A byte rather than a
// string keeps outMsg, copied into every connection's queue on a fan-out,
// within a cache line.
type frameKind uint8

const (
	kindMessage frameKind = iota
	kindAck
	kindSystem
	kindPong
	kindInvokeResponse
)

var frameKindNames = [...]string{"message", "ack", "system", "pong", "invokeResponse"}

func (k frameKind) String() string { return frameKindNames[k] }

// delivery is one data message to many connections. Its frames are encoded
// lazily, once per protocol, by the single goroutine that fans it out.
type delivery struct {
	p          payload
	from       string // "server" or "group"
	group      string
	fromUserID string
	expires    int64         // see outMsg.expires; 0 for no TTL
	mqtt       *mqttDelivery // MQTT QoS, properties and encodings (mqtt_session.go)

	tail []byte // `"type":"message",...}`: the JSON frame without its leading '{'
	json []byte // '{' + tail
}

// raw is the frame for a plain WebSocket client: the data as is.
func (d *delivery) raw() outMsg {
	typ := websocket.MessageText
	if d.p.dataType == dataBinary {
		typ = websocket.MessageBinary
	}
	return outMsg{typ: typ, data: d.p.data, kind: kindMessage, expires: d.expires}
}

func (d *delivery) encodeTail() []byte {
	if d.tail != nil {
		return d.tail
	}
	b := make([]byte, 0, len(d.p.data)+96+len(d.group))
	b = append(b, `"type":"message","from":"`...)
	b = append(b, d.from...)
	b = append(b, '"')
	if d.from == "group" {
		b = append(b, `,"group":`...)
		b = appendJSONString(b, d.group)
		if d.fromUserID != "" {
			b = append(b, `,"fromUserId":`...)
			b = appendJSONString(b, d.fromUserID)
		}
	}
	b = append(b, `,"dataType":"`...)
	b = append(b, d.p.dataType...)
	b = append(b, `","data":`...)
	b = d.p.appendJSONData(b)
	b = append(b, '}')
	d.tail = b
	return b
}

// jsonFrame is the frame for json.webpubsub.azure.v1 clients.
func (d *delivery) jsonFrame() outMsg {
	if d.json == nil {
		t := d.encodeTail()
		d.json = make([]byte, 0, len(t)+1)
		d.json = append(append(d.json, '{'), t...)
	}
	return outMsg{typ: websocket.MessageText, data: d.json, kind: kindMessage, expires: d.expires}
}

// reliableFrame is the frame for reliable clients: the shared tail, to be
// prefixed with the connection's own sequence id.
func (d *delivery) reliableFrame() outMsg {
	return outMsg{typ: websocket.MessageText, data: d.encodeTail(), needSeq: true, kind: kindMessage, expires: d.expires}
}

// appendSequenced writes {"sequenceId":seq, + tail.
func appendSequenced(b []byte, seq uint64, tail []byte) []byte {
	return append(appendSequencePrefix(b, seq), tail...)
}

func appendSequencePrefix(b []byte, seq uint64) []byte {
	b = append(b, `{"sequenceId":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, ',')
}

func ackFrame(ackID uint64, errName, errMsg string) outMsg {
	b := make([]byte, 0, 96)
	b = append(b, `{"type":"ack","ackId":`...)
	b = strconv.AppendUint(b, ackID, 10)
	if errName == "" {
		b = append(b, `,"success":true}`...)
	} else {
		b = append(b, `,"success":false,"error":{"name":`...)
		b = appendJSONString(b, errName)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, errMsg)
		b = append(b, `}}`...)
	}
	return outMsg{typ: websocket.MessageText, data: b, kind: kindAck}
}

func connectedFrame(connID, userID, reconnectionToken string) outMsg {
	m := map[string]any{"type": "system", "event": "connected", "connectionId": connID}
	if userID != "" {
		m["userId"] = userID
	}
	if reconnectionToken != "" {
		m["reconnectionToken"] = reconnectionToken
	}
	b, _ := json.Marshal(m)
	return outMsg{typ: websocket.MessageText, data: b, kind: kindSystem}
}

func disconnectedFrame(reason string) outMsg {
	b, _ := json.Marshal(map[string]string{"type": "system", "event": "disconnected", "message": reason})
	return outMsg{typ: websocket.MessageText, data: b, kind: kindSystem}
}

var pongFrame = outMsg{typ: websocket.MessageText, data: []byte(`{"type":"pong"}`), kind: kindPong}

func invokeResponseFrame(id string, p *payload, errName, errMsg string) outMsg {
	b := make([]byte, 0, 96)
	b = append(b, `{"type":"invokeResponse","invocationId":`...)
	b = appendJSONString(b, id)
	if errName != "" {
		b = append(b, `,"success":false,"error":{"name":`...)
		b = appendJSONString(b, errName)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, errMsg)
		b = append(b, `}}`...)
		return outMsg{typ: websocket.MessageText, data: b, kind: kindInvokeResponse}
	}
	b = append(b, `,"success":true`...)
	if p != nil && len(p.data) > 0 {
		b = append(b, `,"dataType":"`...)
		b = append(b, p.dataType...)
		b = append(b, `","data":`...)
		b = p.appendJSONData(b)
	}
	b = append(b, '}')
	return outMsg{typ: websocket.MessageText, data: b, kind: kindInvokeResponse}
}
