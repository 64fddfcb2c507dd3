package broadcast

import (
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/functions/internal/ident"
)

// FuzzParse: any body either is refused with a reason or yields a request
// that satisfies every rule New promises.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"to":"all","text":"hi"}`, `{"to":"group","id":"g","json":{"a":[1,2]}}`, `{"to":"user","id":"u","binary":"AQID"}`,
		`{"to":"connection","id":"c","json":null}`, `{"to":"all","text":"x","binary":"AA=="}`, `{"to":"all"} x`, `{"to":"user","id":"\u0000"}`,
		``, `null`, `[]`, `{"to":1}`, "{\"to\":\"all\",\"text\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	h := &handler{targets: []string{"all", "user", "group", "connection"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, res, err := h.parse(body)
		msg := req.Message
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if !slices.Contains(h.targets, req.To) || (req.To == "all") != (req.ID == "") || ident.Check(req.ID, 1024) != nil && req.To != "all" {
			t.Fatalf("accepted bad target %q/%q", req.To, req.ID)
		}
		if res.Bytes != len(msg.Bytes()) || msg.Err() != nil {
			t.Fatalf("result %+v vs message of %d bytes (%v)", res, len(msg.Bytes()), msg.Err())
		}
		if res.Type == "text" && !utf8.Valid(msg.Bytes()) {
			t.Fatal("invalid UTF-8 text accepted")
		}
	})
}
