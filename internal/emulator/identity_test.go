package emulator

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestKeylessEmulator runs the keyless chain against the emulator with
// disableLocalAuth: the real azidentity ManagedIdentityCredential gets a
// token from the emulator's managed-identity endpoint, pkg/wps sends and
// mints client tokens (:generateToken) with it, a key-signed client is
// refused, and the hub's handler (auth ManagedIdentity) gets every event
// with a bearer token that cloudevents.EntraAuthenticator verifies against
// the emulator's tenant, and no ce-signature.
func TestKeylessEmulator(t *testing.T) {
	const resource = "api://wpsfn-events"
	var mu sync.Mutex
	var sigs, auths []string
	var ent *cloudevents.EntraAuthenticator
	events := &cloudevents.Handler{
		Hub: "chat",
		Authenticator: cloudevents.AuthenticatorFunc(func(r *http.Request) error {
			mu.Lock()
			sigs = append(sigs, r.Header.Get("ce-signature"))
			auths = append(auths, r.Header.Get("Authorization"))
			mu.Unlock()
			return ent.Authenticate(r)
		}),
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			return &cloudevents.UserEventResponse{Data: append([]byte("echo:"), req.Data...), DataType: cloudevents.DataText}, nil
		},
	}
	fn := httptest.NewServer(events)
	defer fn.Close()
	e := newEnv(t, Config{DisableLocalAuth: true, Hubs: map[string]HubSettings{"chat": {EventHandlers: []EventHandler{
		{URLTemplate: fn.URL, UserEvents: "*", Auth: UpstreamAuth{Type: "ManagedIdentity", Resource: resource}}}}}})
	e.s.cfg.URL = e.base // the authority of the tokens it sends upstream
	var err error
	ent, err = cloudevents.NewEntraAuthenticator(cloudevents.EntraOptions{TenantID: LocalTenant, AuthorityHost: e.base,
		Audiences: []string{resource}, AllowedCallers: []string{ServiceIdentity}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range e.s.ManagedIdentityEnv(e.base) {
		t.Setenv(k, v)
	}
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := wps.NewClient(e.base, "chat", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ca, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "alice", Roles: []string{"webpubsub.sendToGroup"}})
	if err != nil {
		t.Fatalf(":generateToken with the managed identity: %v", err)
	}
	c, _, err := e.dial("chat", ca.Token, "json.webpubsub.azure.v1", "")
	if err != nil {
		t.Fatalf("a client with the minted token: %v", err)
	}
	cl := newClient(t, c)
	defer c.CloseNow()
	if m := cl.read(); m["event"] != "connected" || m["userId"] != "alice" {
		t.Fatalf("connected: %v", m)
	}
	cl.send(map[string]any{"type": "event", "event": "message", "dataType": "text", "data": "hi"})
	if m := cl.read(); m["data"] != "echo:hi" {
		t.Fatalf("event answer: %v", m)
	}
	if err := client.SendToAll(ctx, wps.Text("to all"), nil); err != nil {
		t.Fatalf("SendToAll with the managed identity: %v", err)
	}
	if m := cl.read(); m["data"] != "to all" {
		t.Fatalf("broadcast: %v", m)
	}
	mu.Lock()
	if len(auths) == 0 || slices.ContainsFunc(sigs, func(s string) bool { return s != "" }) || slices.ContainsFunc(auths, func(s string) bool { return !strings.HasPrefix(s, "Bearer ey") }) {
		t.Fatalf("upstream signatures %q, authorization %d entries", sigs, len(auths))
	}
	mu.Unlock()

	t.Run("key-signed REST and client tokens are refused", func(t *testing.T) {
		kc, err := wps.NewClientWithKey(e.base, "chat", wps.NewKeyCredential(DefaultAccessKey), nil)
		if err != nil {
			t.Fatal(err)
		}
		var re *wps.ResponseError
		if err := kc.SendToAll(ctx, wps.Text("x"), nil); !errors.As(err, &re) || re.StatusCode != 401 || !strings.Contains(re.Error(), "local authentication is disabled") {
			t.Fatalf("key-signed REST: %v", err)
		}
		tok, err := kc.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "mallory"})
		if err != nil {
			t.Fatal(err)
		}
		if c, resp, err := e.dial("chat", tok.Token, "", ""); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			if c != nil {
				c.CloseNow()
			}
			t.Fatalf("key-signed client token: %v %v", resp, err)
		}
	})
	t.Run("managed identity endpoint wants its header", func(t *testing.T) {
		resp, err := http.Get(e.base + ManagedIdentityPath + "?api-version=2019-08-01&resource=https://webpubsub.azure.com")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}
