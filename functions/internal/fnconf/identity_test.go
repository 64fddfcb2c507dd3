package fnconf_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
)

// TestManagedIdentity drives the real azidentity ManagedIdentityCredential
// through the App Service protocol (IDENTITY_ENDPOINT + X-IDENTITY-HEADER,
// plain HTTP), as on Azure Functions.
func TestManagedIdentity(t *testing.T) {
	for _, tc := range []struct{ name, clientID string }{{"system-assigned", ""}, {"user-assigned", "1234-client"}} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				q := r.URL.Query()
				if r.Header.Get("X-IDENTITY-HEADER") != "the-secret-header" || q.Get("resource") != "https://webpubsub.azure.com" ||
					q.Get("api-version") != "2019-08-01" || q.Get("client_id") != tc.clientID {
					t.Errorf("identity request %s %v", r.URL, r.Header)
					http.Error(w, "bad", 400)
					return
				}
				fmt.Fprintf(w, `{"access_token":"tok-%d","expires_on":"%d","resource":"https://webpubsub.azure.com","token_type":"Bearer"}`, calls.Load(), time.Now().Add(time.Hour).Unix())
			}))
			defer srv.Close()
			t.Setenv("IDENTITY_ENDPOINT", srv.URL+"/msi/token")
			t.Setenv("IDENTITY_HEADER", "the-secret-header")
			id := &auth.Identity{Endpoint: "https://x.webpubsub.azure.com", ClientID: tc.clientID}
			cred, err := fnconf.NewCredential(id, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://webpubsub.azure.com/.default"}})
				if err != nil || tok.Token != "tok-1" {
					t.Fatalf("token %q, %v", tok.Token, err)
				}
			}
			if calls.Load() != 1 {
				t.Fatalf("%d identity calls, want 1 (azidentity caches)", calls.Load())
			}
		})
	}
}

func TestAWSAssertion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		auth := r.Header.Get("Authorization")
		day := time.Now().UTC().Format("20060102")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/"+day+"/eu-west-1/sts/aws4_request, SignedHeaders=") ||
			!strings.Contains(auth, "Signature=") || r.Header.Get("X-Amz-Security-Token") != "session-token" ||
			r.Form.Get("Action") != "GetWebIdentityToken" || r.Form.Get("Audience.member.1") != "api://AzureADTokenExchange" ||
			r.Form.Get("SigningAlgorithm") != "RS256" || r.Header.Get("X-Amz-Date") == "" {
			t.Errorf("STS request %v %v", r.Header, r.Form)
			http.Error(w, "bad", 400)
			return
		}
		fmt.Fprint(w, `<GetWebIdentityTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetWebIdentityTokenResult><WebIdentityToken>a.b.c</WebIdentityToken><Expiration>2030-01-01T00:00:00Z</Expiration></GetWebIdentityTokenResult></GetWebIdentityTokenResponse>`)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "session-token")
	tok, err := fnconf.AWSAssertion(nil, auth.DefaultFederationAudience)(context.Background())
	if err != nil || tok != "a.b.c" {
		t.Fatalf("%q, %v", tok, err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := fnconf.AWSAssertion(nil, "x")(context.Background()); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY must be set") {
		t.Fatal(err)
	}
}

func TestGCPAssertion(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || r.URL.Path != "/computeMetadata/v1/instance/service-accounts/default/identity" ||
			r.URL.Query().Get("audience") != "api://AzureADTokenExchange" {
			http.Error(w, "bad", 400)
			return
		}
		fmt.Fprint(w, "h.p.s")
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	t.Setenv("GCE_METADATA_HOST", u.Host)
	tok, err := fnconf.GCPAssertion(nil, auth.DefaultFederationAudience)(context.Background())
	if err != nil || tok != "h.p.s" {
		t.Fatalf("%q, %v", tok, err)
	}
}

func TestCheckServiceKeyless(t *testing.T) {
	const cs = "Endpoint=https://x.webpubsub.azure.com;AccessKey=SECRETKEYSECRETKEYSECRETKEY0123456789ABCD=;Version=1.0;"
	for _, tc := range []struct {
		name    string
		connStr string
		id      auth.Identity
		want    string // "" accepts
	}{
		{"endpoint with managed identity", "", auth.Identity{Endpoint: "https://x.webpubsub.azure.com/", Credential: "managed-identity"}, ""},
		{"both", cs, auth.Identity{Endpoint: "https://x.webpubsub.azure.com"}, "WEBPUBSUB_ENDPOINT and WEBPUBSUB_CONNECTION_STRING are both set"},
		{"neither", "", auth.Identity{}, "WEBPUBSUB_CONNECTION_STRING is required (or WEBPUBSUB_ENDPOINT"},
		{"endpoint with a path", "", auth.Identity{Endpoint: "https://x.webpubsub.azure.com/api"}, "WEBPUBSUB_ENDPOINT must be the resource's URL"},
		{"federation without the app", "", auth.Identity{Endpoint: "https://x.webpubsub.azure.com", Credential: "aws-federation"}, "AZURE_TENANT_ID and AZURE_CLIENT_ID are required"},
		{"secret without the secret", "", auth.Identity{Endpoint: "https://x.webpubsub.azure.com", Credential: "client-secret", TenantID: "t", ClientID: "c"}, "AZURE_CLIENT_SECRET are required"},
		{"unknown credential", "", auth.Identity{Endpoint: "https://x.webpubsub.azure.com", Credential: "magic"}, "WEBPUBSUB_CREDENTIAL must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fnconf.CheckService(tc.connStr, "chat", &tc.id)
			switch {
			case tc.want == "" && (err != nil || got.Endpoint != "https://x.webpubsub.azure.com" || got.AccessKey != ""):
				t.Fatalf("%+v, %v", got, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
