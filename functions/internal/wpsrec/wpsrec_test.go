package wpsrec

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func TestRecorderChecksTheJWT(t *testing.T) {
	r := New(t)
	r.ExpectAuthFailures()
	good, err := wps.NewClientFromConnectionString(r.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := good.SendToGroup(context.Background(), "a b", wps.Text("hi"), nil); err != nil {
		t.Fatal(err)
	}
	want := Request{Method: "POST", Path: "/api/hubs/chat/groups/a%20b/:send", RawQuery: "api-version=2024-12-01", ContentType: "text/plain", Body: "hi"}
	if got := r.Requests(); len(got) != 1 || got[0] != want {
		t.Fatalf("%+v", got)
	}
	bad, _ := wps.NewClientFromConnectionString(strings.Replace(r.ConnectionString(), AccessKey, "another-key-0123456789", 1), "chat", nil)
	err = bad.SendToAll(context.Background(), wps.Text("x"), nil)
	var re *wps.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized || r.AuthFailures() != 1 || len(r.Requests()) != 1 {
		t.Fatalf("wrong key: %v, %d failures, %d recorded", err, r.AuthFailures(), len(r.Requests()))
	}
}
