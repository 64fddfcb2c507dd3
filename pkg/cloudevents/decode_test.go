package cloudevents

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecodeConnect: whenever the fast connect decoder accepts a body, it
// must produce exactly what encoding/json produces.
func FuzzDecodeConnect(f *testing.F) {
	for _, s := range []string{
		`{"claims": {"sub": ["alice"]}, "query": {"a": ["1"]}, "headers": {"Host": ["x"]}, "subprotocols": ["json.webpubsub.azure.v1"], "clientCertificates": []}`,
		`{}`, ` { } `, `{"claims":null,"query":{},"subprotocols":[]}`, `{"claims":{"a":null,"b":[]}}`,
		`{"claims":{"a":["x"],"a":["y"]}}`, `{"claims":{},"claims":{"b":["z"]}}`, `{"Claims":{"a":["b"]}}`,
		`{"query":{"k":["é", "\u00e9"]}}`, `{"subprotocols":["a",]}`, `{"clientCertificates":[{"thumbprint":"t"}]}`,
		`{"clientCertificates":null}`, `{"mqtt":{"protocolVersion":5}}`, `{"claims":{"a":["\xff"]}}`, `{"query":{"a":[1]}}`, `{} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, small ConnectRequest
		var arena [2]string // smaller than most bodies need: it must grow safely
		ok := decodeConnectFast(b, &fast)
		if decodeConnect(string(b), &small, arena[:0]) != ok {
			t.Fatalf("%q: decoding with an arena answers differently", b)
		}
		if !ok {
			return
		}
		if !reflect.DeepEqual(fast, small) {
			t.Fatalf("%q: with an arena %+v, without %+v", b, small, fast)
		}
		// Appending to one decoded array must not change another.
		if len(small.Subprotocols) > 0 {
			before := fmt.Sprint(small.Claims, small.Query, small.Headers)
			_ = append(small.Subprotocols, "appended")
			for _, m := range []map[string][]string{small.Claims, small.Query, small.Headers} {
				for k, v := range m {
					m[k] = append(v, "appended")[:len(v)]
				}
			}
			if after := fmt.Sprint(small.Claims, small.Query, small.Headers); after != before {
				t.Fatalf("%q: appending changed the other arrays: %s, was %s", b, after, before)
			}
		}
		var slow ConnectRequest
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, slow)
		}
	})
}

func TestDecodeConnectFastTakesTheCommonShape(t *testing.T) {
	var r ConnectRequest
	body := `{"claims": {"sub": ["alice"], "role": ["a","b"]}, "query": {"a": ["1"]}, "headers": {"Host": ["x"]}, "subprotocols": ["p"], "clientCertificates": []}`
	if !decodeConnectFast([]byte(body), &r) {
		t.Fatal("fast path refused the service's usual connect body")
	}
	if r.Claims["role"][1] != "b" || r.Query["a"][0] != "1" || r.Headers["Host"][0] != "x" || r.Subprotocols[0] != "p" || r.ClientCertificates == nil {
		t.Fatalf("%+v", r)
	}
}

// FuzzEncodeConnect: the hand-written connect answer equals json.Marshal's.
func FuzzEncodeConnect(f *testing.F) {
	f.Add("alice", "g1", "webpubsub.joinLeaveGroup", "json.webpubsub.azure.v1", true)
	f.Add("", "", "", "", false)
	f.Add("alice", "g1", "r", "p", true)
	f.Add("a<b>&\"c\\", "é", "\u2028", "\x00", true)
	f.Fuzz(func(t *testing.T, user, group, role, sub string, lists bool) {
		r := &ConnectResponse{UserID: user, Subprotocol: sub}
		if lists {
			r.Groups = []string{group, group + "x"}
			r.Roles = []string{role}
		} else if group != "" {
			r.Groups = []string{}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendConnectResponse(nil, r)
		if ok && string(got) != string(want) {
			t.Fatalf("%+v: got %s, want %s", r, got, want)
		}
		if !ok && user == "alice" && group == "g1" && role == "r" && sub == "p" {
			t.Fatalf("fast path refused a plain answer")
		}
	})
}
