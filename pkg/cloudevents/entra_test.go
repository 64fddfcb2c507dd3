package cloudevents_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// entraTenant is a stand-in for one Entra tenant: the v2 discovery document
// and key set at the paths Entra serves them, and tokens shaped like the
// ones Web PubSub's managed identity gets.
type entraTenant struct {
	*idp.Provider
	URL, ID   string
	jwksFetch atomic.Int64
}

const (
	tenantID  = "11111111-2222-3333-4444-555555555555"
	wpsOID    = "aaaaaaaa-0000-0000-0000-000000000001" // the Web PubSub identity's object id
	wpsClient = "bbbbbbbb-0000-0000-0000-000000000002" // and its client id
	appURI    = "api://wpsfn-events"
	appClient = "cccccccc-0000-0000-0000-000000000003"
)

func newEntraTenant(t testing.TB, id string) *entraTenant {
	t.Helper()
	p, err := idp.New(idp.RS256)
	if err != nil {
		t.Fatal(err)
	}
	et := &entraTenant{Provider: p, ID: id}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+id+"/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		b, _ := p.DiscoveryJSON(et.URL+"/"+id+"/v2.0", et.URL+"/"+id+"/discovery/v2.0/keys", "", "")
		w.Write(b)
	})
	mux.HandleFunc("GET /"+id+"/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		et.jwksFetch.Add(1)
		b, _ := p.JWKS()
		w.Write(b)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	et.URL = srv.URL
	return et
}

// v2 mints a v2 access token of this tenant for the app, from the Web
// PubSub identity, with overrides (nil deletes a claim).
func (et *entraTenant) v2(t testing.TB, over jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": et.URL + "/" + et.ID + "/v2.0", "aud": appClient, "tid": et.ID, "oid": wpsOID, "azp": wpsClient,
		"sub": wpsOID, "idtyp": "app", "ver": "2.0", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := et.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// v1 mints a v1 token: iss is the tenant's v1 issuer, aud the App ID URI, appid the caller.
func (et *entraTenant) v1(t testing.TB, over jwt.MapClaims) string {
	c := jwt.MapClaims{"iss": et.URL + "/" + et.ID + "/", "aud": appURI, "appid": wpsClient, "azp": nil, "ver": "1.0"}
	for k, v := range over {
		c[k] = v
	}
	return et.v2(t, c)
}

func (et *entraTenant) authenticator(t testing.TB, callers ...string) *cloudevents.EntraAuthenticator {
	t.Helper()
	if callers == nil {
		callers = []string{wpsOID}
	}
	a, err := cloudevents.NewEntraAuthenticator(cloudevents.EntraOptions{
		TenantID: et.ID, AuthorityHost: et.URL, Audiences: []string{appURI, appClient}, AllowedCallers: callers})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/eventhandler", strings.NewReader("{}"))
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func TestEntraAuthenticator(t *testing.T) {
	et := newEntraTenant(t, tenantID)
	other := newEntraTenant(t, "99999999-2222-3333-4444-555555555555")
	a := et.authenticator(t)
	now := time.Now()
	for _, tc := range []struct {
		name, auth, want string // want "" accepts
	}{
		{"v2 token of the pinned identity", "Bearer " + et.v2(t, nil), ""},
		{"v1 token, App ID URI audience", "Bearer " + et.v1(t, jwt.MapClaims{"oid": wpsOID}), ""},
		{"another app's identity in the tenant", "Bearer " + et.v2(t, jwt.MapClaims{"oid": "dddddddd-0000-0000-0000-000000000004", "azp": "eeee"}),
			"bearer token refused: token caller (oid/appid/azp) is not the allowed Web PubSub identity"},
		{"another tenant's issuer, same keys", "Bearer " + et.v2(t, jwt.MapClaims{"iss": other.URL + "/" + other.ID + "/v2.0", "tid": other.ID}),
			`bearer token refused: token issuer "` + other.URL + "/" + other.ID + `/v2.0" not accepted`},
		{"another tenant's token", "Bearer " + other.v2(t, nil), `bearer token refused: token signed by an unknown key (kid "` + other.KeyID() + `")`},
		{"tid of another tenant", "Bearer " + et.v2(t, jwt.MapClaims{"tid": other.ID}), "bearer token refused: token tenant not accepted"},
		{"another audience", "Bearer " + et.v2(t, jwt.MapClaims{"aud": "https://graph.microsoft.com"}), "bearer token refused: token audience not accepted"},
		{"expired", "Bearer " + et.v2(t, jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()}), "bearer token refused: token expired"},
		{"not yet valid", "Bearer " + et.v2(t, jwt.MapClaims{"nbf": now.Add(10 * time.Minute).Unix()}), "bearer token refused: token not valid yet"},
		{"no header", "", cloudevents.ErrMissingBearer.Error()},
		{"basic auth", "Basic YTpi", cloudevents.ErrBadBearer.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bearerRequest("")
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			err := a.Authenticate(r)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("Authenticate = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("pinned by client id", func(t *testing.T) {
		if err := et.authenticator(t, wpsClient).Authenticate(bearerRequest(et.v1(t, jwt.MapClaims{"oid": "x"}))); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewEntraAuthenticatorRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts cloudevents.EntraOptions
		want string
	}{
		{"no tenant", cloudevents.EntraOptions{Audiences: []string{appURI}, AllowedCallers: []string{wpsOID}}, "tenant id is empty"},
		{"no caller", cloudevents.EntraOptions{TenantID: tenantID, Audiences: []string{appURI}}, "AllowedCallers must name"},
		{"no audience", cloudevents.EntraOptions{TenantID: tenantID, AllowedCallers: []string{wpsOID}}, "Audiences must name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cloudevents.NewEntraAuthenticator(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEntraHandlerRefusesBeforeCallbacks sends user events the way the
// service does (upstream.Caller with its Token hook, no ce-signature) to a
// Handler whose Authenticator is the EntraAuthenticator: each hostile token
// is answered 401 with its one-line reason and no callback runs.
func TestEntraHandlerRefusesBeforeCallbacks(t *testing.T) {
	et := newEntraTenant(t, tenantID)
	other := newEntraTenant(t, "99999999-2222-3333-4444-555555555555")
	var calls atomic.Int64
	h := &cloudevents.Handler{
		Hub:           "chat",
		Authenticator: et.authenticator(t),
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			calls.Add(1)
			return &cloudevents.UserEventResponse{Data: req.Data, DataType: req.DataType}, nil
		},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	pub, _ := x509.MarshalPKIXPublicKey(et.PublicKey())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	now := time.Now()
	claims := jwt.MapClaims{"iss": et.URL + "/" + et.ID + "/v2.0", "aud": appClient, "tid": et.ID, "oid": wpsOID, "exp": now.Add(time.Hour).Unix()}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hsTok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hsTok.Header["kid"] = et.KeyID()
	hs, _ := hsTok.SignedString(pubPEM)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"alg none", none, `bearer token refused: token algorithm "none" is not accepted (want RS256)`},
		{"HS256 signed with the RSA public key", hs, `bearer token refused: token algorithm "HS256" is not accepted (want RS256)`},
		{"another tenant", other.v2(t, nil), `bearer token refused: token signed by an unknown key (kid "` + other.KeyID() + `")`},
		{"another audience", et.v2(t, jwt.MapClaims{"aud": "api://someone-else"}), "bearer token refused: token audience not accepted"},
		{"expired", et.v2(t, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), "bearer token refused: token expired"},
		{"not yet valid", et.v2(t, jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}), "bearer token refused: token not valid yet"},
		{"another app of the tenant", et.v2(t, jwt.MapClaims{"oid": "dddddddd-0000-0000-0000-000000000004", "azp": "dddd"}),
			"bearer token refused: token caller (oid/appid/azp) is not the allowed Web PubSub identity"},
		{"no token", "", cloudevents.ErrMissingBearer.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &upstream.Caller{}
			if tc.token != "" {
				c.Token = func(context.Context) (string, error) { return tc.token, nil }
			}
			ans, err := c.Send(context.Background(), srv.URL, userEvent())
			if err != nil {
				t.Fatal(err)
			}
			if ans.Status != http.StatusUnauthorized || string(ans.Body) != tc.want {
				t.Fatalf("answer %d %q, want 401 %q", ans.Status, ans.Body, tc.want)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("%d callbacks ran for a refused request", n)
			}
		})
	}
	t.Run("the pinned identity's token is accepted and verified once", func(t *testing.T) {
		tok := et.v2(t, nil)
		c := &upstream.Caller{Token: func(context.Context) (string, error) { return tok, nil }}
		for range 3 {
			ans, err := c.Send(context.Background(), srv.URL, userEvent())
			if err != nil || ans.Status != http.StatusOK || string(ans.Body) != "hi" {
				t.Fatalf("answer %+v, %v", ans, err)
			}
		}
		// Two key fetches in all: the first, and one for the other tenant's unknown kid.
		if calls.Load() != 3 || et.jwksFetch.Load() != 2 {
			t.Fatalf("%d callbacks, %d key fetches", calls.Load(), et.jwksFetch.Load())
		}
	})
}

func userEvent() *cloudevents.UserEventRequest {
	return &cloudevents.UserEventRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "conn1", UserID: "alice"},
		Data:              []byte("hi"), DataType: cloudevents.DataText,
	}
}
