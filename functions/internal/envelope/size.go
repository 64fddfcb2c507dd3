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
		data = quotedLen(string(p.Message.Bytes()))
	default:
		data = raw
	}
	overhead := frameOverhead
	if p.To == "group" {
		overhead += len(`,"group":`) + quotedLen(p.ID)
	}
	return max(raw, data+overhead)
}

// quotedLen is len(json.Marshal(s)). Printable ASCII other than the
// characters json.Marshal escapes (quote, backslash, and <, >, & as HTML)
// is written as it is, so such a string (a group name, almost always) is
// measured without marshalling it; any other goes through json.Marshal.
func quotedLen(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return len(b)
		}
	}
	return len(s) + 2
}
