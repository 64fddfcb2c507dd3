package emulator

import (
	"encoding/binary"
	"time"
)

// MQTT 5 message expiry on queued messages: a PUBLISH that waited (for its
// offline session, or for the client's receive window) leaves with the
// time it has left, not the time it had when it was queued
// ([MQTT-3.3.2-6]); one whose time ran out is not sent at all (pumpLocked,
// attach).

// mqttExpiryOffset is the offset of the 4-byte Message Expiry Interval in
// the encoded 5.0 PUBLISH b whose packet id is at idOff, or 0 if it has
// none. mochi's encoder writes the Payload Format Indicator (2 bytes) and
// then the Message Expiry Interval first among the properties; anything
// else means no interval to refresh.
func mqttExpiryOffset(b []byte, idOff int) int {
	i := idOff + 2
	n, end := 0, i
	for shift := 0; end < len(b) && shift < 28; shift += 7 {
		n |= int(b[end]&0x7f) << shift
		end++
		if b[end-1]&0x80 == 0 {
			break
		}
	}
	p, last := end, end+n
	if last > len(b) {
		return 0
	}
	if p < last && b[p] == 0x01 { // Payload Format Indicator
		p += 2
	}
	if p+5 <= last && b[p] == 0x02 {
		return p + 1
	}
	return 0
}

// setMQTTExpiry writes left (ns, rounded up to a whole second, at least 1)
// as b's Message Expiry Interval at off.
func setMQTTExpiry(b []byte, off int, left int64) {
	secs := max((left+int64(time.Second)-1)/int64(time.Second), 1)
	binary.BigEndian.PutUint32(b[off:off+4], uint32(min(secs, 1<<32-1)))
}
