package connect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// TestConnectKeyless runs connect with no key at all: the endpoint with a
// managed identity for REST, and upstream requests authenticated by the
// Entra token of the Web PubSub identity (no ce-signature is sent).
func TestConnectKeyless(t *testing.T) {
	const tenant, wpsOID, app = "tenant-1", "wps-identity-oid", "api://wpsfn-events"
	p, err := idp.New(idp.RS256)
	if err != nil {
		t.Fatal(err)
	}
	authority := httptest.NewServer(p.EntraHandler(tenant, func(r *http.Request) string { return "http://" + r.Host }))
	defer authority.Close()
	cfg, err := LoadConfigFrom(map[string]string{
		"WEBPUBSUB_ENDPOINT": "https://x.webpubsub.azure.com", "WEBPUBSUB_CREDENTIAL": "managed-identity", "WEBPUBSUB_HUB": "chat",
		"WEBPUBSUB_EVENTS_AUTH": "entra", "AZURE_TENANT_ID": tenant, "WEBPUBSUB_EVENTS_AUDIENCES": app,
		"WEBPUBSUB_EVENTS_CALLERS": wpsOID, "WEBPUBSUB_EVENTS_AUTHORITY": authority.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	mint := func(oid string) string {
		tok, _, err := p.Access(authority.URL+"/"+tenant+"/v2.0", tenant, app, oid, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ev := &cloudevents.ConnectRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c1", UserID: "alice"}}
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"the resource's identity", mint(wpsOID), http.StatusOK},
		{"another identity of the tenant", mint("someone-else"), http.StatusUnauthorized},
		{"no token", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &upstream.Caller{}
			if tc.token != "" {
				c.Token = func(context.Context) (string, error) { return tc.token, nil }
			}
			ans, err := c.Send(context.Background(), srv.URL, ev)
			if err != nil || ans.Status != tc.status {
				t.Fatalf("answer %+v, %v; want %d", ans, err, tc.status)
			}
		})
	}
	t.Run("no key and no entra configuration", func(t *testing.T) {
		_, err := LoadConfigFrom(map[string]string{"WEBPUBSUB_ENDPOINT": "https://x.webpubsub.azure.com", "WEBPUBSUB_HUB": "chat"})
		if err == nil {
			t.Fatal("a keyless connect without WEBPUBSUB_EVENTS_* was accepted")
		}
	})
}
