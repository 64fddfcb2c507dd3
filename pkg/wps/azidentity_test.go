package wps

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestManagedIdentityCredential plugs the real azidentity
// ManagedIdentityCredential into NewClient, against a stand-in for the App
// Service managed-identity endpoint (the protocol it speaks on Azure
// Functions): the token is asked for the Web PubSub resource once, with the
// identity header and the user-assigned client id, and every call, the
// :generateToken one included, carries it.
func TestManagedIdentityCredential(t *testing.T) {
	const secret = "identity-header-secret"
	var hits atomic.Int32
	mi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		q := r.URL.Query()
		if r.Header.Get("X-IDENTITY-HEADER") != secret || q.Get("api-version") != "2019-08-01" ||
			q.Get("resource") != "https://webpubsub.azure.com" || q.Get("client_id") != "app-client-id" {
			t.Errorf("managed-identity request %s %v (header %q)", r.Method, r.URL, r.Header.Get("X-IDENTITY-HEADER"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"mi-token-%d","expires_on":"%d","resource":"https://webpubsub.azure.com","token_type":"Bearer"}`,
			n, time.Now().Add(time.Hour).Unix())
	}))
	defer mi.Close()
	t.Setenv("IDENTITY_ENDPOINT", mi.URL)
	t.Setenv("IDENTITY_HEADER", secret)
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "")

	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID("app-client-id")})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.HasSuffix(r.URL.Path, "/:generateToken") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token":"client.token.`+strconv.Itoa(n)+`"}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
	c, err := NewClient(rec.URL, "chat", cred, &ClientOptions{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		if err := c.SendToGroup(ctx, "room", Text(strconv.Itoa(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := c.ClientAccessURL(ctx, &ClientAccessOptions{UserID: "alice", Expiry: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	got := rec.requests()
	if len(got) != 4 {
		t.Fatalf("%d requests, want 4", len(got))
	}
	for _, r := range got {
		if r.Authorization != "Bearer mi-token-1" {
			t.Errorf("%s %s: Authorization %q, want the managed-identity token", r.Method, r.Path, r.Authorization)
		}
	}
	if g := got[3]; g.Path != "/api/hubs/chat/:generateToken" || g.RawQuery != "api-version=2024-12-01&userId=alice&minutesToExpire=10" {
		t.Errorf(":generateToken request %s?%s", g.Path, g.RawQuery)
	}
	if ca.Token != "client.token.4" || ca.URL != "ws"+strings.TrimPrefix(rec.URL, "http")+"/client/hubs/chat?access_token=client.token.4" {
		t.Errorf("ClientAccess %+v", ca)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("managed-identity endpoint asked %d times for 4 calls, want 1", n)
	}
}
