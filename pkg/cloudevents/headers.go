package cloudevents

// Header names of the upstream protocol, in Go's canonical form so that they
// can index an http.Header directly (the service sends them as "ce-connectionId"
// and so on; header names are case-insensitive on the wire).
const (
	HeaderSpecVersion          = "Ce-Specversion"
	HeaderType                 = "Ce-Type"
	HeaderSource               = "Ce-Source"
	HeaderID                   = "Ce-Id"
	HeaderTime                 = "Ce-Time"
	HeaderAWPSVersion          = "Ce-Awpsversion"
	HeaderSignature            = "Ce-Signature"
	HeaderUserID               = "Ce-Userid"
	HeaderConnectionID         = "Ce-Connectionid"
	HeaderHub                  = "Ce-Hub"
	HeaderEventName            = "Ce-Eventname"
	HeaderSubprotocol          = "Ce-Subprotocol"
	HeaderConnectionState      = "Ce-Connectionstate"
	HeaderPhysicalConnectionID = "Ce-Physicalconnectionid"
	HeaderSessionID            = "Ce-Sessionid"

	// HeaderRequestOrigin carries the service host on validation requests and
	// on every event.
	HeaderRequestOrigin = "Webhook-Request-Origin"
	// HeaderAllowedOrigin is the abuse-protection answer.
	HeaderAllowedOrigin = "Webhook-Allowed-Origin"

	// mqttHeaderPrefix starts one header per MQTT 5 user property on MQTT user
	// events and their responses.
	mqttHeaderPrefix = "Mqtt-"
)

// Event types (the ce-type header).
const (
	TypeConnect      = "azure.webpubsub.sys.connect"
	TypeConnected    = "azure.webpubsub.sys.connected"
	TypeDisconnected = "azure.webpubsub.sys.disconnected"
	TypeGroupJoined  = "azure.webpubsub.gp.joined"
	TypeGroupLeft    = "azure.webpubsub.gp.left"
	// TypeUserPrefix followed by the event name is a user event.
	TypeUserPrefix = "azure.webpubsub.user."
)

// Content types written by the handler.
const (
	contentTypeJSON   = "application/json; charset=utf-8"
	contentTypeText   = "text/plain; charset=utf-8"
	contentTypeBinary = "application/octet-stream"
	contentTypeProto  = "application/x-protobuf"
)

// header returns the first value of the canonical header name k without
// re-canonicalising it (the hot path reads a dozen headers per request).
func header(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
