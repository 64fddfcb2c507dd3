package emulator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT packets are read and written with mochi-mqtt's packets package, which
// decodes and encodes MQTT 3.1.1 and 5.0 (the protocol version of the
// session picks the variant). This file only frames them on the WebSocket
// and maps decoding failures to the protocol's answers.

// MQTT protocol levels.
const (
	mqttV311 = 4
	mqttV5   = 5
)

// mqttStream is the byte stream of a WebSocket's binary messages: one
// message may carry several MQTT packets or part of one ([MQTT-6.0.0-2]).
type mqttStream struct {
	ws  *websocket.Conn
	ctx context.Context
	r   io.Reader
}

// errMQTTTextFrame: MQTT over WebSocket uses binary messages only ([MQTT-6.0.0-1]).
var errMQTTTextFrame = errors.New("a text WebSocket message carries no MQTT packets")

func (s *mqttStream) Read(p []byte) (int, error) {
	for {
		if s.r == nil {
			typ, r, err := s.ws.Reader(s.ctx)
			if err != nil {
				return 0, err
			}
			if typ != websocket.MessageBinary {
				return 0, errMQTTTextFrame
			}
			s.r = r
		}
		n, err := s.r.Read(p)
		if errors.Is(err, io.EOF) {
			s.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// mqttDecodeError is a packet that could not be decoded: Code is the MQTT 5
// reason code that describes it (0x81 malformed, 0x82 protocol error, 0x95
// too large).
type mqttDecodeError struct {
	Code packets.Code
	Err  error
}

func (e *mqttDecodeError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("MQTT packet: %s: %v", e.Code.Reason, e.Err)
	}
	return "MQTT packet: " + e.Code.Reason
}

func (e *mqttDecodeError) Unwrap() error { return e.Err }

// readMQTTPacket reads one control packet. version is the session's protocol
// level (0 before CONNECT, which carries its own). A packet whose remaining
// length exceeds max is refused before its body is read.
func readMQTTPacket(br *bufio.Reader, version byte, max int) (packets.Packet, error) {
	var pk packets.Packet
	b, err := br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, decodeErr(err)
	}
	n, _, err := packets.DecodeLength(br)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return pk, err
		}
		var code packets.Code
		if errors.As(err, &code) {
			return pk, &mqttDecodeError{Code: packets.ErrMalformedVariableByteInteger}
		}
		return pk, err // the socket failed
	}
	if n > max {
		return pk, &mqttDecodeError{Code: packets.ErrPacketTooLarge, Err: fmt.Errorf("%d bytes, more than the %d allowed", n, max)}
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = version
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return pk, err
	}
	if err := decodeBody(&pk, buf); err != nil {
		return pk, err
	}
	return pk, nil
}

// decodeBody decodes a packet's variable header and payload. mochi's
// decoders index some fields without a bounds check (a SUBSCRIBE 5.0 filter
// with no options byte), so a panic there is a malformed packet too.
func decodeBody(pk *packets.Packet, buf []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &mqttDecodeError{Code: packets.ErrMalformedPacket, Err: fmt.Errorf("%v", r)}
		}
	}()
	n := len(buf)
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(buf)
	case packets.Publish:
		err = pk.PublishDecode(buf)
	case packets.Puback:
		err = pk.PubackDecode(buf)
	case packets.Pubrec:
		err = pk.PubrecDecode(buf)
	case packets.Pubrel:
		err = pk.PubrelDecode(buf)
	case packets.Pubcomp:
		err = pk.PubcompDecode(buf)
	case packets.Subscribe:
		err = pk.SubscribeDecode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(buf)
	case packets.Pingreq:
		if n != 0 {
			err = packets.ErrMalformedPacket
		}
	case packets.Disconnect:
		err = pk.DisconnectDecode(buf)
	case packets.Auth:
		err = pk.AuthDecode(buf)
	default:
		// CONNACK, SUBACK, UNSUBACK, PINGRESP and type 0 are the server's
		// to send; a client sending one violates the protocol.
		return &mqttDecodeError{Code: packets.ErrProtocolViolation, Err: fmt.Errorf("packet type %d is not a client packet", pk.FixedHeader.Type)}
	}
	if err != nil {
		return decodeErr(err)
	}
	return nil
}

// decodeErr keeps the code of mochi's errors (a packets.Code, possibly
// wrapped) and calls anything else malformed.
func decodeErr(err error) error {
	var code packets.Code
	if errors.As(err, &code) {
		return &mqttDecodeError{Code: code, Err: err}
	}
	return &mqttDecodeError{Code: packets.ErrMalformedPacket, Err: err}
}

// encodeMQTT encodes pk (its FixedHeader.Type and ProtocolVersion set).
func encodeMQTT(pk *packets.Packet) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Suback:
		err = pk.SubackEncode(&buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(&buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		err = fmt.Errorf("emulator: no encoder for MQTT packet type %d", pk.FixedHeader.Type)
	}
	return buf.Bytes(), err
}

// setMQTTPacketID writes id into b, an encoded QoS 1 or 2 PUBLISH: after
// the fixed header and the topic name ([MQTT-3.3.2]). b is the fan-out's
// template or a copy of it, so it is well formed.
func setMQTTPacketID(b []byte, id uint16) {
	i := 1
	for i < len(b) && b[i]&0x80 != 0 {
		i++
	}
	i++ // past the remaining length
	if i+2 > len(b) {
		return
	}
	i += 2 + (int(b[i])<<8 | int(b[i+1]))
	if i+2 <= len(b) {
		b[i], b[i+1] = byte(id>>8), byte(id)
	}
}
