package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// FuzzGroupFrame feeds arbitrary client frames through the JSON protocol's
// parser and, for every frame the emulator accepts, checks the frames it
// would fan out to the group's members: valid JSON for both JSON
// subprotocols, with the sender's data, group and user id intact.
func FuzzGroupFrame(f *testing.F) {
	f.Add([]byte(`{"type":"sendToGroup","group":"g","dataType":"text","data":"hi \"there\" \u2028"}`), "alice")
	f.Add([]byte(`{"type":"sendToGroup","group":"g\"1","dataType":"json","data":{"a":[1,2,{"b":null}]}}`), "o'brien")
	f.Add([]byte(`{"type":"sendToGroup","group":"g","dataType":"binary","data":"AAEC/w=="}`), "")
	f.Add([]byte(`{"type":"sendToGroup","group":"</script>","data":"<\u0000>"}`), "\xff\xfe")
	f.Add([]byte(`{"type":"event","event":"message","dataType":"json","data":12e400}`), "u")
	f.Fuzz(func(t *testing.T, frame []byte, user string) {
		var m clientMessage
		if json.Unmarshal(frame, &m) != nil || m.Group == "" {
			return
		}
		p, err := decodeData(m.DataType, m.Data)
		if err != nil {
			return
		}
		d := &delivery{p: p, from: "group", group: m.Group, fromUserID: user}
		reliable := appendSequenced(nil, 42, d.reliableFrame().data)
		for _, frame := range [][]byte{d.jsonFrame().data, reliable} {
			var got struct {
				Type, From, Group, FromUserID, DataType string
				Data                                    json.RawMessage
			}
			if err := json.Unmarshal(frame, &got); err != nil {
				t.Fatalf("fan-out frame is not JSON: %v\n%s", err, frame)
			}
			if got.Type != "message" || got.From != "group" || got.Group != jsonRoundTrip(m.Group) || got.FromUserID != jsonRoundTrip(user) || got.DataType != p.dataType {
				t.Fatalf("frame %s lost its envelope (group %q, user %q)", frame, m.Group, user)
			}
			switch p.dataType {
			case dataText:
				var s string
				if json.Unmarshal(got.Data, &s) != nil || s != jsonRoundTrip(string(p.data)) {
					t.Fatalf("text data %q came out as %s", p.data, got.Data)
				}
			case dataBinary:
				var s string
				b, err := base64.StdEncoding.DecodeString(string(bytes.Trim(got.Data, `"`)))
				if json.Unmarshal(got.Data, &s) != nil || err != nil || !bytes.Equal(b, p.data) {
					t.Fatalf("binary data %x came out as %s", p.data, got.Data)
				}
			case dataJSON:
				if !bytes.Equal(got.Data, p.data) && !jsonEqual(got.Data, p.data) {
					t.Fatalf("json data %s came out as %s", p.data, got.Data)
				}
			}
		}
	})
}

// jsonRoundTrip is s as encoding/json round-trips it (invalid bytes become U+FFFD).
func jsonRoundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
