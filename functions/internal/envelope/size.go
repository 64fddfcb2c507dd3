package envelope

import (
	"encoding/base64"
	"encoding/json"
)

// MaxFrameBytes is the largest message Web PubSub delivers to a client.
const MaxFrameBytes = 1 << 20

// frameOverhead is the JSON a json.webpubsub.azure.v1 client's frame adds
// around the data: {"type":"message","from":"server","dataType":"binary","data":...}.
const frameOverhead = len(`{"type":"message","from":"server","dataType":"binary","data":}`)

// FrameSize is the size of the largest frame a client receives for p: the
// data itself for plain WebSocket clients, or the data wrapped in a JSON
// frame (text escaped as a JSON string, binary as base64) for the JSON
// subprotocols. A message over MaxFrameBytes here cannot be delivered.
func FrameSize(p Parsed) int {
	raw := len(p.Message.Bytes())
	var data int
	switch p.Type {
	case "binary":
		data = base64.StdEncoding.EncodedLen(raw) + 2
	case "text":
		b, _ := json.Marshal(string(p.Message.Bytes()))
		data = len(b)
	default:
		data = raw
	}
	return max(raw, data+frameOverhead)
}
