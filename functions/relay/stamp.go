package relay

import (
	"bytes"
	"encoding/json"

	"github.com/wpsfn/wpsfn/functions/internal/envelope"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// stampID adds the member field: id to a JSON object message that has no
// such member (Config.IDField); other messages are returned as they are.
func stampID(p envelope.Parsed, field, id string) envelope.Parsed {
	body := bytes.TrimSpace(p.Message.Bytes())
	if len(body) < 2 || body[0] != '{' {
		return p
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return p
	}
	if _, ok := members[field]; ok {
		return p
	}
	k, _ := json.Marshal(field)
	v, _ := json.Marshal(id)
	var b bytes.Buffer
	b.Grow(len(body) + len(k) + len(v) + 2)
	b.WriteByte('{')
	b.Write(k)
	b.WriteByte(':')
	b.Write(v)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		b.WriteByte(',')
	}
	b.Write(body[1:])
	p.Message = wps.JSON(json.RawMessage(b.Bytes()))
	p.Bytes = len(p.Message.Bytes())
	return p
}
