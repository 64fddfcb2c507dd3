package cloudevents

import (
	"encoding/json"
	"mime"
	"strings"
)

// DataType is the kind of a user event's data, from its Content-Type.
type DataType string

// Data types of user events and replies.
const (
	DataText     DataType = "text"     // text/plain
	DataJSON     DataType = "json"     // application/json
	DataBinary   DataType = "binary"   // application/octet-stream (and unknown types)
	DataProtobuf DataType = "protobuf" // application/x-protobuf
)

// ContentType is the Content-Type the handler writes for d; the zero DataType
// is binary, like Microsoft's Express handler.
func (d DataType) ContentType() string {
	switch d {
	case DataText:
		return contentTypeText
	case DataJSON:
		return contentTypeJSON
	case DataProtobuf:
		return contentTypeProto
	}
	return contentTypeBinary
}

// DataTypeOf maps a Content-Type (parameters ignored) to a DataType; empty or
// unknown types are binary.
func DataTypeOf(contentType string) DataType {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "text/plain"):
		return DataText
	case strings.EqualFold(mt, "application/json"):
		return DataJSON
	case strings.EqualFold(mt, "application/x-protobuf"):
		return DataProtobuf
	}
	return DataBinary
}

// ConnectionContext is what every event says about its connection. Requests
// embed it. On the service side, fill it to build a request.
type ConnectionContext struct {
	Hub          string `json:"-"` // ce-hub
	ConnectionID string `json:"-"` // ce-connectionId (for MQTT, the client id)
	UserID       string `json:"-"` // ce-userId; empty for anonymous connections before connect
	EventName    string `json:"-"` // ce-eventName: connect, connected, disconnected, joined, left or the user event's name
	Type         string `json:"-"` // ce-type, e.g. azure.webpubsub.user.message; derived when building a request
	Subprotocol  string `json:"-"` // ce-subprotocol, once one was chosen
	Origin       string `json:"-"` // WebHook-Request-Origin: the service host
	// PhysicalConnectionID and SessionID identify the MQTT network connection
	// and session (MQTT only).
	PhysicalConnectionID string `json:"-"`
	SessionID            string `json:"-"`
	ID                   string `json:"-"` // ce-id; generated when building a request if empty
	Time                 string `json:"-"` // ce-time (RFC 3339); now when building a request if empty
	// RawState is the ce-connectionState value exactly as carried on the wire
	// (the service stores it opaquely). Use State to read it.
	RawState string `json:"-"`

	state       State
	stateParsed bool
}

// State is the connection state carried by the request. A request whose state
// is not base64 JSON never reaches a callback, so the handler's requests
// always decode; on a hand-built request a bad RawState reads as empty.
func (c *ConnectionContext) State() State {
	if !c.stateParsed {
		c.state, _ = DecodeState(c.RawState)
		c.stateParsed = true
	}
	return c.state
}

// IsMQTT reports whether the connection is an MQTT one, the way Microsoft's
// SDKs tell: the subprotocol mentions mqtt and a physical connection id is set.
func (c *ConnectionContext) IsMQTT() bool {
	return c.PhysicalConnectionID != "" && strings.Contains(strings.ToLower(c.Subprotocol), "mqtt")
}

// ClientCertificate is a client certificate presented on connect.
type ClientCertificate struct {
	Thumbprint string `json:"thumbprint"`
	Content    string `json:"content,omitempty"`
}

// MQTTUserProperty is one MQTT 5 user property.
type MQTTUserProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MQTTConnectProperties are the MQTT CONNECT packet's fields on a connect event.
type MQTTConnectProperties struct {
	ProtocolVersion int                `json:"protocolVersion"` // 4 (3.1.1) or 5
	Username        string             `json:"username,omitempty"`
	Password        []byte             `json:"password,omitempty"` // base64 on the wire
	CleanStart      *bool              `json:"cleanStart,omitempty"`
	UserProperties  []MQTTUserProperty `json:"userProperties,omitempty"`
}

// ConnectRequest is the blocking connect event, sent while the client's
// WebSocket (or MQTT) handshake waits.
type ConnectRequest struct {
	ConnectionContext
	Claims             map[string][]string    `json:"claims,omitempty"`
	Query              map[string][]string    `json:"query,omitempty"`
	Headers            map[string][]string    `json:"headers,omitempty"`
	Subprotocols       []string               `json:"subprotocols,omitempty"`
	ClientCertificates []ClientCertificate    `json:"clientCertificates,omitempty"`
	MQTT               *MQTTConnectProperties `json:"mqtt,omitempty"`
}

// ConnectResponse accepts a connect. All fields are optional; an empty
// response (or nil) answers 204 and the service keeps what the token says.
type ConnectResponse struct {
	UserID      string               `json:"userId,omitempty"`
	Groups      []string             `json:"groups,omitempty"`
	Roles       []string             `json:"roles,omitempty"`
	Subprotocol string               `json:"subprotocol,omitempty"` // one of ConnectRequest.Subprotocols
	MQTT        *MQTTConnectResponse `json:"mqtt,omitempty"`

	edits stateEdits
}

// MQTTConnectResponse carries MQTT 5 user properties for the CONNACK.
type MQTTConnectResponse struct {
	UserProperties []MQTTUserProperty `json:"userProperties,omitempty"`
}

// SetState stores v (as JSON) under key in the connection state.
func (r *ConnectResponse) SetState(key string, v any) error { return r.edits.setState(key, v) }

// DeleteState removes key from the connection state.
func (r *ConnectResponse) DeleteState(key string) { r.edits.deleteState(key) }

// ClearStates empties the connection state (on the wire: an empty object).
// Later SetState calls add to the emptied state.
func (r *ConnectResponse) ClearStates() { r.edits.clearStates() }

func (r *ConnectResponse) hasBody() bool {
	return r.UserID != "" || r.Groups != nil || r.Roles != nil || r.Subprotocol != "" || r.MQTT != nil
}

// UserEventRequest is a message from a client: a frame of a simple WebSocket
// client (event "message"), an "event" message of a subprotocol client, or an
// MQTT publish to $webpubsub/server/events/<name>.
type UserEventRequest struct {
	ConnectionContext
	Data        []byte
	DataType    DataType
	ContentType string // as sent, e.g. "text/plain"
	// MQTTUserProperties come from mqtt-<name> headers; Go's HTTP server
	// canonicalises header names, so names arrive in canonical case.
	MQTTUserProperties []MQTTUserProperty
}

// UserEventResponse is the reply to the sending connection. A nil response
// answers 204 (nothing is sent to the client).
type UserEventResponse struct {
	Data     []byte
	DataType DataType // the zero value is binary
	// MQTTUserProperties become mqtt-<name> response headers.
	MQTTUserProperties []MQTTUserProperty

	edits stateEdits
}

// SetState stores v (as JSON) under key in the connection state.
func (r *UserEventResponse) SetState(key string, v any) error { return r.edits.setState(key, v) }

// DeleteState removes key from the connection state.
func (r *UserEventResponse) DeleteState(key string) { r.edits.deleteState(key) }

// ClearStates empties the connection state (on the wire: an empty object).
func (r *UserEventResponse) ClearStates() { r.edits.clearStates() }

// ConnectedRequest is the notification that a connection is established.
type ConnectedRequest struct {
	ConnectionContext
}

// MQTTDisconnectPacket is the client's MQTT DISCONNECT packet, if it sent one.
type MQTTDisconnectPacket struct {
	Code           int                `json:"code"`
	UserProperties []MQTTUserProperty `json:"userProperties,omitempty"`
}

// MQTTDisconnectedProperties say how an MQTT session ended.
type MQTTDisconnectedProperties struct {
	InitiatedByClient bool                  `json:"initiatedByClient"`
	DisconnectPacket  *MQTTDisconnectPacket `json:"disconnectPacket"`
}

// DisconnectedRequest is the notification that a connection ended.
type DisconnectedRequest struct {
	ConnectionContext
	Reason string                      `json:"reason,omitempty"`
	MQTT   *MQTTDisconnectedProperties `json:"mqtt,omitempty"`
}

// GroupEventRequest is a group presence notification (azure.webpubsub.gp.joined
// or .left); EventName is "joined" or "left".
type GroupEventRequest struct {
	ConnectionContext
	Group string `json:"group"`
}

// Event is one of the request types (*ConnectRequest, *UserEventRequest,
// *ConnectedRequest, *DisconnectedRequest, *GroupEventRequest), for building
// a request on the service side.
type Event interface {
	connectionContext() *ConnectionContext
	defaults() (eventName, ceType string)
	body() (contentType string, body []byte, err error)
}

func (r *ConnectRequest) connectionContext() *ConnectionContext      { return &r.ConnectionContext }
func (r *UserEventRequest) connectionContext() *ConnectionContext    { return &r.ConnectionContext }
func (r *ConnectedRequest) connectionContext() *ConnectionContext    { return &r.ConnectionContext }
func (r *DisconnectedRequest) connectionContext() *ConnectionContext { return &r.ConnectionContext }
func (r *GroupEventRequest) connectionContext() *ConnectionContext   { return &r.ConnectionContext }

func (r *ConnectRequest) defaults() (string, string)      { return "connect", TypeConnect }
func (r *ConnectedRequest) defaults() (string, string)    { return "connected", TypeConnected }
func (r *DisconnectedRequest) defaults() (string, string) { return "disconnected", TypeDisconnected }
func (r *UserEventRequest) defaults() (string, string) {
	name := r.EventName
	if name == "" {
		name = "message"
	}
	return name, TypeUserPrefix + name
}
func (r *GroupEventRequest) defaults() (string, string) {
	if r.EventName == "left" || r.Type == TypeGroupLeft {
		return "left", TypeGroupLeft
	}
	return "joined", TypeGroupJoined
}

func (r *ConnectRequest) body() (string, []byte, error) {
	b, err := json.Marshal(r)
	return contentTypeJSON, b, err
}
func (r *ConnectedRequest) body() (string, []byte, error) {
	return contentTypeJSON, []byte("{}"), nil
}
func (r *DisconnectedRequest) body() (string, []byte, error) {
	// The service writes "reason" even when it is null.
	b, err := json.Marshal(struct {
		Reason *string                     `json:"reason"`
		MQTT   *MQTTDisconnectedProperties `json:"mqtt,omitempty"`
	}{nilIfEmpty(r.Reason), r.MQTT})
	return contentTypeJSON, b, err
}
func (r *GroupEventRequest) body() (string, []byte, error) {
	b, err := json.Marshal(r)
	return contentTypeJSON, b, err
}
func (r *UserEventRequest) body() (string, []byte, error) {
	ct := r.ContentType
	if ct == "" {
		ct = r.DataType.ContentType()
	}
	return ct, r.Data, nil
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// mediaTypeIs reports whether contentType's media type is mt.
func mediaTypeIs(contentType, mt string) bool {
	got, _, err := mime.ParseMediaType(contentType)
	return err == nil && got == mt
}
