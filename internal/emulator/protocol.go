package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

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
		if typ == websocket.MessageText && !utf8.Valid(data) {
			// RFC 6455 §8.1: text must be UTF-8, and relaying it would make
			// every receiver's WebSocket library fail its own connection.
			c.protocolError("InvalidPayload: a text frame is not valid UTF-8.")
			continue // the next read fails
		}
		if !c.waitRoom() {
			continue // closed as slow; the next read fails
		}
		c.proto.handle(c, typ, data)
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

// handleJSON handles a frame of the JSON subprotocols.
func (c *conn) handleJSON(typ websocket.MessageType, data []byte) {
	if typ != websocket.MessageText {
		c.protocolError("InvalidMessage: " + c.subprotocol + " takes JSON text frames.")
		return
	}
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		// null and {} decode without an error, but are no message either.
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
		if m.SequenceID != nil && c.proto.resumable() {
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
	if errors.Is(err, errInvalidReply) || errors.Is(err, errInvalidTextReply) {
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
	return c.proto.message(&delivery{p: p, from: "server"})
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
