package wps

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSignRequest measures building one SendToAll request and signing a
// fresh token for it (what a call costs when its token is not cached).
func BenchmarkSignRequest(b *testing.B) {
	c, err := NewClientFromConnectionString(confConnStr, confHub, nil)
	if err != nil {
		b.Fatal(err)
	}
	ks := c.key.state()
	cl := &call{op: "SendToAll", method: "POST", path: "/:send", contentType: ContentTypeText, body: []byte("hello")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		aud := c.audience(cl)
		auth := []string{"Bearer " + signREST(ks, aud, time.Now().Unix())}
		if _, err := c.request(ctx, cl, aud, auth); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildRequest measures the hot path of repeated calls: building
// the request with the cached token for its URL.
func BenchmarkBuildRequest(b *testing.B) {
	c, err := NewClientFromConnectionString(confConnStr, confHub, nil)
	if err != nil {
		b.Fatal(err)
	}
	cl := &call{op: "SendToAll", method: "POST", path: "/:send", contentType: ContentTypeText, body: []byte("hello")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		aud := c.audience(cl)
		auth, err := c.authorization(ctx, aud)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.request(ctx, cl, aud, auth); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignWithOptions signs a call whose URL carries options (a new
// audience, so a fresh signature, each time the options change).
func BenchmarkSignWithOptions(b *testing.B) {
	c, err := NewClientFromConnectionString(confConnStr, confHub, nil)
	if err != nil {
		b.Fatal(err)
	}
	ks := c.key.state()
	q, _ := sendQuery("SendToGroup", &SendOptions{Excluded: []string{"c1"}, Filter: FilterUserIs("o'brien")}, true, true)
	cl := &call{op: "SendToGroup", method: "POST", path: "/groups/" + escapePath("room 1") + "/:send", query: q, contentType: ContentTypeJSON, body: []byte(`{"a":1}`)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		aud := c.audience(cl)
		auth := []string{"Bearer " + signREST(ks, aud, time.Now().Unix())}
		if _, err := c.request(ctx, cl, aud, auth); err != nil {
			b.Fatal(err)
		}
	}
}
