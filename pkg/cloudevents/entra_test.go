package cloudevents_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
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
