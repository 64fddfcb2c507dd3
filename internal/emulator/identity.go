package emulator

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/idp"
)

// The emulator is also a local identity provider, so the keyless chain runs
// offline with the real azidentity code:
//
//   - a local Entra tenant (LocalTenant) whose v2 discovery document and
//     key set are served at Entra's paths under the emulator's own URL (the
//     authority), RS256 from a key generated on first use (RotateKey makes
//     a new one, the old stays published);
//   - the App Service managed-identity protocol at ManagedIdentityPath
//     (IDENTITY_ENDPOINT + X-IDENTITY-HEADER, plain HTTP: the path
//     azidentity's ManagedIdentityCredential takes on Azure Functions),
//     minting the tenant's tokens for the resource asked for;
//   - the REST API accepts those tokens for https://webpubsub.azure.com,
//     checking signature, audience and expiry;
//   - a sign-in for users (identity_login.go: authorization code with
//     PKCE) and workload identity federation (identity_token.go), both at
//     Entra's authorize and token endpoints of the tenant;
//   - a hub handler with Auth ManagedIdentity gets such a token, for its
//     resource, on every upstream call (as the resource's identity,
//     ServiceIdentity).

// Identity constants of the local tenant.
const (
	LocalTenant         = "wpsfn-local-tenant"
	ManagedIdentityPath = "/msi/token"
	// ServiceIdentity is the object id of the emulated resource's own
	// managed identity (the oid of its upstream tokens).
	ServiceIdentity = "wpsfn-local-webpubsub-identity"
	// FunctionIdentity is the object id of the tokens the managed-identity
	// endpoint mints for the functions (no client_id asked).
	FunctionIdentity = "wpsfn-local-function-identity"
	entraResource    = EntraAudience
	localTokenTTL    = time.Hour
)

// UpstreamAuth is a hub handler's upstream authentication, as the
// service's eventHandlers[].auth.
type UpstreamAuth struct {
	// Type is "ManagedIdentity" or empty (none).
	Type string
	// Resource is the token's audience (the events app's App ID URI or client id).
	Resource string
}

type identity struct {
	once    sync.Once
	p       *idp.Provider
	err     error
	header  string // the X-IDENTITY-HEADER secret
	codes   loginCodes
	refresh loginCodes // refresh tokens, one use each
	fed     *federation
}

func (s *Server) provider() (*idp.Provider, error) {
	s.id.once.Do(func() { s.id.p, s.id.err = idp.New(idp.RS256) })
	return s.id.p, s.id.err
}

// RotateKey makes the local tenant sign with a new key and returns its kid.
func (s *Server) RotateKey() (string, error) {
	p, err := s.provider()
	if err != nil {
		return "", err
	}
	return p.Rotate()
}

// Authority returns the issuer of the local tenant under base (the
// emulator's URL, e.g. http://127.0.0.1:8080).
func Authority(base string) (issuer string) {
	return strings.TrimSuffix(base, "/") + "/" + LocalTenant + "/v2.0"
}

// ManagedIdentityEnv returns the variables that point azidentity's
// ManagedIdentityCredential at the emulator reached at base.
func (s *Server) ManagedIdentityEnv(base string) map[string]string {
	return map[string]string{"IDENTITY_ENDPOINT": strings.TrimSuffix(base, "/") + ManagedIdentityPath, "IDENTITY_HEADER": s.id.header}
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// identityRoutes adds the tenant's metadata and the managed-identity endpoint.
func (s *Server) identityRoutes(mux *http.ServeMux) {
	disc, keys := idp.EntraPaths(LocalTenant)
	tenant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.provider()
		if err != nil {
			http.Error(w, "no signing key", http.StatusInternalServerError)
			return
		}
		p.EntraHandler(LocalTenant, baseURL).ServeHTTP(w, r)
	})
	mux.Handle("GET "+disc, tenant)
	mux.Handle("GET "+keys, tenant)
	mux.HandleFunc("GET "+ManagedIdentityPath, s.serveManagedIdentity)
	authorize, token := idp.EntraEndpoints(LocalTenant)
	mux.HandleFunc("GET "+authorize, s.serveAuthorize)
	mux.HandleFunc("POST "+authorize, s.serveAuthorize)
	mux.HandleFunc("POST "+token, s.serveToken)
}

// serveManagedIdentity answers the App Service managed-identity protocol.
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": msg})
	}
	h := r.Header.Get("X-IDENTITY-HEADER")
	if h == "" || subtle.ConstantTimeCompare([]byte(h), []byte(s.id.header)) != 1 {
		fail(http.StatusUnauthorized, "X-IDENTITY-HEADER is missing or wrong")
		return
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" || q.Get("api-version") == "" {
		fail(http.StatusBadRequest, "resource and api-version are required")
		return
	}
	sub := FunctionIdentity
	if c := q.Get("client_id"); c != "" {
		sub = c
	}
	tok, exp, err := s.localToken(baseURL(r), resource, sub)
	if err != nil {
		fail(http.StatusInternalServerError, "minting failed")
		return
	}
	s.trace(TraceEvent{Time: time.Now(), Kind: TraceREST, Summary: "managed identity token for " + resource + " → 200", Status: 200})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "expires_on": strconv.FormatInt(exp.Unix(), 10),
		"resource": resource, "token_type": "Bearer"})
}

// localToken mints an access token of the local tenant for resource.
func (s *Server) localToken(base, resource, subject string) (string, time.Time, error) {
	p, err := s.provider()
	if err != nil {
		return "", time.Time{}, err
	}
	return p.Access(Authority(base), LocalTenant, resource, subject, localTokenTTL, map[string]any{"idtyp": "app"})
}

// errNotLocal means a token is not one of the local tenant's (try the keys).
var errNotLocal = errors.New("not a local tenant token")

// verifyLocal checks an RS256 token of the local tenant for the Web PubSub
// audience: signature by kid, issuer of this emulator's tenant, audience,
// exp and nbf.
func (s *Server) verifyLocal(raw string, r *http.Request) (jwt.MapClaims, error) {
	if alg := tokenAlg(raw); alg != "RS256" {
		return nil, errNotLocal
	}
	p, err := s.provider()
	if err != nil {
		return nil, &authError{"the local tenant has no key"}
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(raw, claims, p.Keyfunc,
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithLeeway(clockSkew), jwt.WithExpirationRequired(),
		jwt.WithIssuer(Authority(baseURL(r))), jwt.WithAudience(entraResource, entraResource+"/"))
	switch {
	case err == nil:
		return claims, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, &authError{"the Entra token has expired"}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return nil, &authError{"the Entra token's audience is not " + entraResource}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return nil, &authError{"the Entra token is not from this emulator's tenant"}
	}
	return nil, &authError{"the Entra token is invalid"}
}

func tokenAlg(raw string) string {
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return ""
	}
	a, _ := tok.Header["alg"].(string)
	return a
}

type resourceKey struct{}

// upstreamToken is the upstream Caller's Token hook: a token of the
// resource's own identity for the handler's resource (set in ctx by call).
func (s *Server) upstreamToken(ctx context.Context) (string, error) {
	res, _ := ctx.Value(resourceKey{}).(string)
	if res == "" {
		return "", nil
	}
	base, _ := ctx.Value(baseKey{}).(string)
	tok, _, err := s.localToken(base, res, ServiceIdentity)
	return tok, err
}

type baseKey struct{}
