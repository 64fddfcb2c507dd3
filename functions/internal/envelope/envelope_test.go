package envelope_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/envelope"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, body string
		opts       envelope.Options
		typ, data  string
		ttl        time.Duration
		err        string
	}{
		{name: "text to all", body: `{"to":"all","text":"hi"}`, typ: "text", data: "hi"},
		{name: "json to group with options", body: `{"to":"group","id":"g","json":{"a": 1},"ttl":5,"filter":"userId eq 'a'","excluded":["c"]}`, typ: "json", data: `{"a":1}`, ttl: 5 * time.Second},
		{name: "binary to user", body: `{"to":"user","id":"u","binary":"AQI="}`, typ: "binary", data: "\x01\x02"},
		{name: "empty body", body: ``, err: "body is not a valid message envelope: empty body"},
		{name: "array", body: `[]`, err: "body is not a valid message envelope: not a JSON object"},
		{name: "two values", body: `{"to":"all","text":"a"}{}`, err: "body holds more than one JSON value"},
		{name: "unknown field", body: `{"to":"all","text":"a","x":1}`, err: `unknown field "x"`},
		{name: "no target", body: `{"text":"a"}`, err: `"to" is required`},
		{name: "target refused", body: `{"to":"all","text":"a"}`, opts: envelope.Options{Targets: []string{"group"}}, err: `"to": all is not allowed here`},
		{name: "id with all", body: `{"to":"all","id":"x","text":"a"}`, err: `"id" must be empty`},
		{name: "no id", body: `{"to":"connection","text":"a"}`, err: `"id" is required when "to" is connection`},
		{name: "control id", body: `{"to":"user","id":"a\nb","text":"a"}`, err: `"id" holds a control character`},
		{name: "ttl too long", body: `{"to":"all","text":"a","ttl":301}`, err: `"ttl" must be from 0 to 300 seconds`},
		{name: "negative ttl", body: `{"to":"all","text":"a","ttl":-1}`, err: `"ttl" must be from 0 to 300 seconds`},
		{name: "filter on connection", body: `{"to":"connection","id":"c","text":"a","filter":"x"}`, err: `"filter" does not apply`},
		{name: "excluded on user", body: `{"to":"user","id":"u","text":"a","excluded":["c"]}`, err: `"excluded" applies only`},
		{name: "two payloads", body: `{"to":"all","text":"a","json":1}`, err: `only one of`},
		{name: "no payload", body: `{"to":"all"}`, err: `one of "text", "json" or "binary" is required`},
		{name: "bad base64", body: `{"to":"all","binary":"***"}`, err: `"binary" is not valid base64`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := envelope.Parse([]byte(c.body), c.opts)
			if c.err != "" {
				var ee *envelope.Error
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &ee) {
					t.Fatalf("err = %v, want an *envelope.Error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != c.typ || string(p.Message.Bytes()) != c.data || p.Bytes != len(c.data) {
				t.Fatalf("parsed %s %q (%d bytes), want %s %q", p.Type, p.Message.Bytes(), p.Bytes, c.typ, c.data)
			}
			if o := p.SendOptions(); (o == nil) != (c.ttl == 0) || o != nil && o.MessageTTL != c.ttl {
				t.Fatalf("options %+v, want ttl %v", o, c.ttl)
			}
		})
	}
}

func TestFrameSize(t *testing.T) {
	big := strings.Repeat("a", 800_000)
	// Text that fits a server frame with a reliable client's sequence id by
	// ten bytes; a group send of it also names the group in every frame.
	edge := strings.Repeat("a", envelope.MaxFrameBytes-10-len(`{"type":"message","from":"server","dataType":"text","data":"","sequenceId":18446744073709551615}`))
	group := strings.Repeat("g", 20)
	cases := []struct {
		name string
		body string
		over bool
	}{
		{"small text", `{"to":"all","text":"hi"}`, false},
		{"800 kB of text", `{"to":"all","text":"` + big + `"}`, false},
		// 810 kB of bytes is 1,080,000 bytes of base64 in a JSON frame.
		{"810 kB of binary", `{"to":"all","binary":"` + strings.Repeat("AAAA", 270_000) + `"}`, true},
		{"800 kB of quotes", `{"to":"all","text":"` + strings.Repeat(`\"`, 400_000) + `x"}`, false},
		{"600 kB of quotes escaped to 1.2 MB", `{"to":"all","text":"` + strings.Repeat(`\"`, 600_000) + `"}`, true},
		{"text at the edge to a user", `{"to":"user","id":"` + group + `","text":"` + edge + `"}`, false},
		{"text at the edge to a group, named in the frame", `{"to":"group","id":"` + group + `","text":"` + edge + `"}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := envelope.Parse([]byte(c.body), envelope.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if n := envelope.FrameSize(p); (n > envelope.MaxFrameBytes) != c.over {
				t.Fatalf("frame of %d bytes: over = %v, want %v", n, !c.over, c.over)
			}
		})
	}
}

// FuzzParse: any body is refused with a reason or gives a sendable message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"to":"all","text":"hi"}`, `{"to":"group","id":"g","json":{"a":[1,2]},"ttl":9,"excluded":["x"]}`,
		`{"to":"user","id":"u","binary":"AQID","filter":"userId eq 'x'"}`, `{"to":"connection","id":"c","json":null}`,
		`{"to":"all","text":"x","binary":"AA=="}`, `{"to":"all"} x`, `{"to":"user","id":"\u0000"}`, ``, `null`, `[]`,
		`{"to":1}`, "{\"to\":\"all\",\"text\":\"\xff\"}", `{"to":"all","text":"a","ttl":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := envelope.Parse(body, envelope.Options{})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if p.Message.Err() != nil || p.Bytes != len(p.Message.Bytes()) || (p.To == "all") != (p.ID == "") {
			t.Fatalf("accepted %+v", p.Envelope)
		}
		if envelope.FrameSize(p) < p.Bytes {
			t.Fatal("frame smaller than its data")
		}
	})
}
