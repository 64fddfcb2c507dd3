package envelope

import (
	"encoding/base64"
	"encoding/json"
)

// MaxFrameBytes is the largest message Web PubSub delivers to a client.
const MaxFrameBytes = 1 << 20

// frameOverhead is the most JSON a JSON-subprotocol client's frame adds
// around the data: {"type":"message","from":"server","dataType":"binary",
// "data":...} plus the reliable subprotocols' sequence id at its widest. A
// group send's frame says from "group" (as long as "server") and names the
// group too: see FrameSize.
const frameOverhead = len(`{"type":"message","from":"server","dataType":"binary","data":,"sequenceId":18446744073709551615}`)

// FrameSize is the size of the largest frame a client receives for p: the
// data itself for plain WebSocket clients, or the data wrapped in a JSON
// frame (text escaped as a JSON string, binary as base64, the group named
// for a group send) for the JSON subprotocols. A message over MaxFrameBytes
// here cannot be delivered.
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
	overhead := frameOverhead
	if p.To == "group" {
		name, _ := json.Marshal(p.ID)
		overhead += len(`,"group":`) + len(name)
	}
	return max(raw, data+overhead)
}
