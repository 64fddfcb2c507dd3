package connect

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// MQTT connects. Web PubSub sends one connect event per MQTT CONNECT, with
// the packet's username and password; the user comes from the client token
// (sub) or, when MQTTDevices is configured, from a username whose password
// matches (a device registry). Refusals carry MQTT codes, so the client
// reads them in its CONNACK: 3.1.1 return codes 4 (bad username or
// password) and 5 (not authorised), 5.0 reason codes 0x86 and 0x87.

// mqttUser authenticates an MQTT connect: the username when it is a known
// device with the right password; "" and no error when the packet has no
// username; an MQTT refusal for an unknown device or a wrong password.
func (f *function) mqttUser(req *cloudevents.ConnectRequest) (string, error) {
	m := req.MQTT
	if m.Username == "" || len(f.cfg.MQTTDevices) == 0 {
		return "", nil
	}
	want, ok := f.cfg.MQTTDevices[m.Username]
	got := sha256.Sum256(m.Password)
	wantSum, err := hex.DecodeString(want)
	if !ok || err != nil || subtle.ConstantTimeCompare(got[:], wantSum) != 1 {
		f.log.Warn("connect refused", "connection", req.ConnectionID, "reason", "unknown MQTT device or wrong password")
		return "", cloudevents.MQTTErrorf(mqttCode(m.ProtocolVersion, 4, 0x86), "bad username or password")
	}
	return m.Username, nil
}

// mqttRefusal is an MQTT not-authorised refusal for the client's version.
func (f *function) mqttRefusal(req *cloudevents.ConnectRequest, reason string) error {
	f.log.Warn("connect refused", "connection", req.ConnectionID, "reason", reason)
	return cloudevents.MQTTErrorf(mqttCode(req.MQTT.ProtocolVersion, 5, 0x87), "%s", reason)
}

func mqttCode(version, v311, v5 int) int {
	if version == 5 {
		return v5
	}
	return v311
}

// checkMQTTDevices validates CONNECT_MQTT_DEVICES: each password a
// hex SHA-256.
func checkMQTTDevices(devices map[string]string) error {
	for user, sum := range devices {
		if b, err := hex.DecodeString(strings.TrimSpace(sum)); err != nil || len(b) != sha256.Size || user == "" {
			return fnconf.Invalid("CONNECT_MQTT_DEVICES", "must be username:hex-SHA-256-of-password pairs")
		}
	}
	return nil
}
