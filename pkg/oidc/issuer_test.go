package oidc_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/idp"
)

// testIssuer serves a provider's discovery document and key set and counts
// the key set fetches; down makes both answer 503.
type testIssuer struct {
	*idp.Provider
	srv        *httptest.Server
	URL        string
	jwksFetch  atomic.Int64
	discFetch  atomic.Int64
	down       atomic.Bool
	issuerName string // the issuer the document names; "" means URL
}

func newIssuer(t testing.TB, alg idp.Alg) *testIssuer {
	t.Helper()
	p, err := idp.New(alg)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{Provider: p}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.discFetch.Add(1)
		if is.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		name := is.issuerName
		if name == "" {
			name = is.URL
		}
		b, _ := p.DiscoveryJSON(name, is.URL+"/keys", "", "")
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		is.jwksFetch.Add(1)
		if is.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, err := p.JWKS()
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	return is
}

// token mints a token of this issuer for aud and sub, valid for an hour,
// with extra claims merged in (a nil value deletes a claim).
func (is *testIssuer) token(t testing.TB, aud, sub string, extra jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": is.URL, "aud": aud, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := is.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
