package cloudevents

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is a refusal with an HTTP status and a one-line message. Callbacks
// return one (through Errorf or MQTTErrorf) to answer with that status; the
// service side returns one for a handler's non-2xx answer.
type Error struct {
	// Status is the HTTP status: 400, 401, 403 or 500 from applications; any
	// 4xx or 5xx is kept as is.
	Status int
	// Message is the plain-text body (one line).
	Message string
	// MQTT, when set, is sent as the {"mqtt":{...}} JSON body of an MQTT
	// connect refusal instead of the plain-text message.
	MQTT *MQTTError
}

// MQTTError is the body of a refused MQTT connect: the CONNACK code (an MQTT
// 3.1.1 return code 1–5 or an MQTT 5 reason code ≥ 0x80), an optional reason
// and MQTT 5 user properties.
type MQTTError struct {
	Code           int                `json:"code"`
	Reason         string             `json:"reason,omitempty"`
	UserProperties []MQTTUserProperty `json:"userProperties,omitempty"`
}

func (e *Error) Error() string {
	if e.MQTT != nil {
		return fmt.Sprintf("cloudevents: %d (mqtt code %d): %s", e.Status, e.MQTT.Code, e.Message)
	}
	return fmt.Sprintf("cloudevents: %d: %s", e.Status, e.Message)
}

// Errorf returns an *Error with status (400, 401, 403, 500; anything outside
// 400–599 becomes 500) and a message formatted like fmt.Sprintf. For an MQTT
// connect the handler turns it into the matching MQTT reason code.
func Errorf(status int, format string, args ...any) error {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	return &Error{Status: status, Message: oneLine(fmt.Sprintf(format, args...))}
}

// MQTTErrorf refuses an MQTT connect with an MQTT return or reason code. The
// HTTP status follows the code the way Microsoft's SDKs map it (bad protocol,
// client id or packet → 400; bad credentials or not authorized → 401;
// banned → 403; quota or rate → 429; v3 server unavailable → 503; others 500).
func MQTTErrorf(code int, format string, args ...any) error {
	msg := oneLine(fmt.Sprintf(format, args...))
	return &Error{Status: MQTTCodeStatus(code), Message: msg, MQTT: &MQTTError{Code: code, Reason: msg}}
}

// MQTTCodeStatus maps an MQTT 3.1.1 CONNACK return code (1–5) or an MQTT 5
// reason code to the HTTP status of the upstream answer.
func MQTTCodeStatus(code int) int {
	switch code {
	case 1, 2, // v3: unacceptable protocol version, identifier rejected
		0x81, 0x82, 0x83, 0x84, 0x85, 0x8C, 0x90, 0x95, 0x99, 0x9A, 0x9B: // v5: malformed, protocol, implementation specific, version, client id, auth method, topic, size, payload, retain, QoS
		return http.StatusBadRequest
	case 4, 5, 0x86, 0x87: // bad user name or password, not authorized
		return http.StatusUnauthorized
	case 3: // v3: server unavailable
		return http.StatusServiceUnavailable
	case 0x8A: // banned
		return http.StatusForbidden
	case 0x97, 0x9F: // quota exceeded, connection rate exceeded
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// mqttCodeFor picks the MQTT code for an HTTP status, for protocol version v
// (3 and 4 are MQTT 3.1 / 3.1.1, 5 is MQTT 5), as Microsoft's SDKs do for
// 400/401/500.
func mqttCodeFor(status, v int) int {
	v5 := v >= 5
	pick := func(v3, v5code int) int {
		if v5 {
			return v5code
		}
		return v3
	}
	switch {
	case status == http.StatusUnauthorized:
		return pick(5, 0x87)
	case status == http.StatusForbidden:
		return pick(5, 0x8A)
	case status == http.StatusTooManyRequests:
		return pick(3, 0x97)
	case status == http.StatusServiceUnavailable:
		return pick(3, 0x88)
	case status < 500:
		return pick(4, 0x86)
	}
	return pick(3, 0x80)
}

// oneLine keeps a message on one line so that it can be a plain-text body
// and a log attribute.
func oneLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
	}
	return s
}
