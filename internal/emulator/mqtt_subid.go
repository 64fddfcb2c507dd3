package emulator

import "github.com/mochi-mqtt/server/v2/packets"

// MQTT 5 subscription identifiers, which the service supports
// (reference-mqtt-support-status): a SUBSCRIBE may carry one, and every
// PUBLISH that matches the subscription carries it back ([MQTT-3.3.4-3]).
// Topics are literal groups, so a PUBLISH matches at most one subscription
// of a session and carries at most one identifier.

// mqttMaxSubID is the largest subscription identifier (a variable byte
// integer, [MQTT-3.8.2.1.2]).
const mqttMaxSubID = 268_435_455

// subscriptionID is a SUBSCRIBE's subscription identifier, 0 when it has
// none; ok is false for a protocol error: the property twice, or 0
// ([MQTT-3.8.2.1.2]).
func subscriptionID(pk *packets.Packet) (id int, ok bool) {
	ids := pk.Properties.SubscriptionIdentifier
	switch {
	case pk.ProtocolVersion != mqttV5 || ids == nil:
		return 0, true
	case len(ids) != 1 || ids[0] < 1 || ids[0] > mqttMaxSubID:
		return 0, false
	}
	return ids[0], true
}

// mqttSubIDKey names one cached encoding of a delivery with a subscription
// identifier.
type mqttSubIDKey struct {
	qos byte
	id  int
}

// publishWithSubID is the encoded 5.0 PUBLISH of d carrying subscription
// identifier id (nil if it cannot be encoded). A fan-out to many sessions
// that subscribed with the same identifier encodes it once.
func (md *mqttDelivery) publishWithSubID(s *Server, d *delivery, qos byte, topic string, id int) []byte {
	k := mqttSubIDKey{qos: qos, id: id}
	if b, ok := md.bySubID[k]; ok {
		return b
	}
	if md.bySubID == nil {
		md.bySubID = map[mqttSubIDKey][]byte{}
	}
	pk, ok := md.publishPacket(s, d, mqttV5, qos, topic)
	var b []byte
	if ok {
		pk.Properties.SubscriptionIdentifier = []int{id}
		var err error
		if b, err = encodeMQTT(&pk); err != nil {
			s.log.Debug("emulator: MQTT PUBLISH not encodable", "err", err)
			b = nil
		}
	}
	md.bySubID[k] = b
	return b
}
