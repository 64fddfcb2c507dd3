package emulator

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestFederatedClientAssertion runs the real azidentity
// ClientAssertionCredential (the AWS and Google Cloud path) against the
// emulator as the tenant's authority, over TLS as MSAL requires: the
// assertion is a token of an external issuer (an idp.Provider standing in
// for AWS's outbound federation issuer), which the emulator verifies
// against the app's federated credential before answering with its own
// token; pkg/wps then calls REST with it on a resource with local auth off.
func TestFederatedClientAssertion(t *testing.T) {
	const (
		app  = "wpsfn-functions-app"
		role = "arn:aws:iam::123456789012:role/wpsfn-fn"
	)
	ext, err := idp.New(idp.RS256)
	if err != nil {
		t.Fatal(err)
	}
	var extURL string
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			b, _ = ext.DiscoveryJSON(extURL, extURL+"/keys", "", "")
		case "/keys":
			b, _ = ext.JWKS()
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	defer issuer.Close()
	extURL = issuer.URL
	e := newTLSEnv(t, Config{DisableLocalAuth: true,
		FederatedCredentials: []FederatedCredential{{ClientID: app, Issuer: extURL, Subject: role}}})

	assertion := func(change func(jwt.MapClaims)) string {
		now := time.Now()
		c := jwt.MapClaims{"iss": extURL, "sub": role, "aud": FederationAudience, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		if change != nil {
			change(c)
		}
		tok, err := ext.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	var sent []string
	cred, err := azidentity.NewClientAssertionCredential(LocalTenant, app, func(context.Context) (string, error) {
		a := assertion(nil)
		sent = append(sent, a)
		return a, nil
	}, &azidentity.ClientAssertionCredentialOptions{DisableInstanceDiscovery: true, ClientOptions: azcore.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.base + "/"}, Transport: e.srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := wps.NewClient(e.base, "chat", cred, &wps.ClientOptions{HTTPClient: e.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.SendToAll(ctx, wps.Text("from the federated app"), nil); err != nil {
		t.Fatalf("SendToAll with the federated credential: %v", err)
	}
	ca, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "alice"})
	if err != nil || ca.Token == "" {
		t.Fatalf(":generateToken with the federated credential: %v", err)
	}
	assert.Equal(t, "assertions asked for", len(sent), 1)

	// The token the app got is the tenant's, for the app.
	p, _ := e.s.provider()
	tok, err := cred.GetToken(ctx, policyScope())
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok.Token, claims, p.Keyfunc, jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Fatalf("the app's token: %v", err)
	}
	assert.Equal(t, "azp", claims["azp"], any(app))
	assert.Equal(t, "iss", claims["iss"], any(Authority(e.base)))

	other, _ := idp.New(idp.RS256)
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": extURL, "sub": role, "aud": FederationAudience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	forged.Header["kid"] = ext.KeyID()
	forgedTok, _ := forged.SignedString(other.Signer())
	for _, tc := range []struct {
		name, client, assertion, desc string
	}{
		{"another subject", app, assertion(func(c jwt.MapClaims) { c["sub"] = "arn:aws:iam::123456789012:role/other" }), "subject"},
		{"another audience", app, assertion(func(c jwt.MapClaims) { c["aud"] = "api://something-else" }), "audience"},
		{"expired", app, assertion(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-10 * time.Minute).Unix() }), "expired"},
		{"forged signature", app, forgedTok, "signature"},
		{"another issuer", app, assertion(func(c jwt.MapClaims) { c["iss"] = "https://accounts.google.com" }), "issuer"},
		{"another client", "other-app", assertion(nil), "issuer"},
		{"not a JWT", app, "not-a-jwt", "issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.srv.Client().PostForm(e.base+"/"+LocalTenant+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"client_credentials"}, "client_id": {tc.client}, "scope": {EntraAudience + "/.default"},
				"client_assertion_type": {clientAssertionType}, "client_assertion": {tc.assertion}})
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]string
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			assert.Equal(t, "status", resp.StatusCode, http.StatusUnauthorized)
			assert.Equal(t, "error", body["error"], "invalid_client")
			assert.Contains(t, "description", body["error_description"], tc.desc)
			assert.Equal(t, "no token", body["access_token"], "")
		})
	}
	t.Run("azidentity surfaces a refusal", func(t *testing.T) {
		bad, _ := azidentity.NewClientAssertionCredential(LocalTenant, app, func(context.Context) (string, error) {
			return assertion(func(c jwt.MapClaims) { c["sub"] = "someone-else" }), nil
		}, &azidentity.ClientAssertionCredentialOptions{DisableInstanceDiscovery: true, ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.base + "/"}, Transport: e.srv.Client()}})
		if _, err := bad.GetToken(ctx, policyScope()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("GetToken with a wrong subject: %v", err)
		}
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.traces {
		if strings.Contains(ev.Summary+ev.Detail, sent[0][:24]) || strings.Contains(ev.Summary+ev.Detail, tok.Token[:24]) {
			t.Errorf("trace %q shows an assertion or token", ev.Summary)
		}
	}
}

func policyScope() policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{wps.Scope}}
}
