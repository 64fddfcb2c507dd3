package relay_test

import (
	"encoding/json"
	"testing"

	"github.com/wpsfn/wpsfn/functions/relay"
)

func TestPointer(t *testing.T) {
	doc := []byte(`{"foo":["bar","baz"],"":0,"a/b":1,"m~n":8,"x":{"y":{"z":"deep"}}}`)
	cases := []struct{ ptr, want string }{
		{"", string(doc)}, {"/foo", `["bar","baz"]`}, {"/foo/0", `"bar"`}, {"/", `0`},
		{"/a~1b", `1`}, {"/m~0n", `8`}, {"/x/y/z", `"deep"`},
		{"/foo/2", "error"}, {"/foo/01", "error"}, {"/foo/-", "error"}, {"/nope", "error"}, {"/x/y/z/w", "error"},
		{"foo", "error"}, {"/a~", "error"}, {"/a~2", "error"},
	}
	for _, c := range cases {
		t.Run(c.ptr, func(t *testing.T) {
			got, err := relay.Get(c.ptr, doc)
			if c.want == "error" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("got %s, %v; want %s", got, err, c.want)
			}
		})
	}
}

// FuzzPointer: any pointer on any document selects valid JSON or errs.
func FuzzPointer(f *testing.F) {
	f.Add("/a/0", []byte(`{"a":[{"b":1}]}`))
	f.Add("/~01", []byte(`{"~1":2}`))
	f.Add("", []byte(`not json`))
	f.Add("/a", []byte(`[`))
	f.Fuzz(func(t *testing.T, ptr string, doc []byte) {
		got, err := relay.Get(ptr, doc)
		if err == nil && !json.Valid(got) {
			t.Fatalf("selected invalid JSON %q", got)
		}
	})
}
