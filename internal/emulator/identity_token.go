package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

// The local tenant's token endpoint (Entra's /{tenant}/oauth2/v2.0/token),
// for two grants:
//
//   - authorization_code with PKCE, the second half of the sign-in
//     (identity_login.go);
//   - client_credentials with a client_assertion: workload identity
//     federation, the path azidentity's ClientAssertionCredential takes on
//     AWS and Google Cloud. The assertion is a token of an external issuer
//     that one of the app's FederatedCredentials names; it is verified
//     (signature by the issuer's published keys, iss, aud, sub, exp) and
//     answered with an access token of the local tenant for the scope's
//     resource, whose oid and azp are the app's client id.
//
// Only the error code and a description go back; neither the assertion nor
// any token is ever logged or traced.

// FederationAudience is the audience every federated assertion must carry,
// as Entra requires by default.
const FederationAudience = "api://AzureADTokenExchange"

// FederatedCredential is a federated identity credential of an app of the
// local tenant: tokens of Issuer whose sub is Subject may be traded for the
// app's own tokens.
type FederatedCredential struct {
	// ClientID is the app's client id, the client_id of the token request.
	ClientID string
	// Issuer is the external issuer (AWS's outbound federation issuer,
	// https://accounts.google.com, a Kubernetes cluster...); its keys are
	// found through its discovery document.
	Issuer string
	// Subject is the sub the assertion must carry (a role ARN, a service
	// account's numeric id, system:serviceaccount:ns:name).
	Subject string
	// Audience is the aud the assertion must carry; empty means
	// FederationAudience.
	Audience string
}

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// federation verifies assertions, one verifier per credential (they fetch
// their issuer's keys on first use and cache them).
type federation struct {
	creds []FederatedCredential
	vs    []*oidc.Verifier
}

func newFederation(creds []FederatedCredential, log *slog.Logger) (*federation, error) {
	f := &federation{creds: creds}
	for i, c := range creds {
		if c.ClientID == "" || c.Subject == "" {
			return nil, fmt.Errorf("emulator: federated credential %d: ClientID and Subject are required", i+1)
		}
		if c.Audience == "" {
			creds[i].Audience = FederationAudience
		}
		v, err := oidc.New(oidc.Config{Issuer: c.Issuer, Audiences: []string{creds[i].Audience}, Logger: log,
			CacheSize: -1, // every assertion is checked afresh: they are short-lived and used once
			Check: func(t *oidc.Token) error {
				if t.Subject != c.Subject {
					return errors.New("the assertion's subject is not the federated credential's")
				}
				return nil
			}})
		if err != nil {
			return nil, fmt.Errorf("emulator: federated credential %d: %w", i+1, err)
		}
		f.vs = append(f.vs, v)
	}
	return f, nil
}

// serveToken answers the token endpoint.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "the body must be a form of at most 64 KiB")
		return
	}
	f := r.PostForm
	switch g := f.Get("grant_type"); g {
	case "authorization_code":
		s.redeemCode(w, r, f)
	case "refresh_token":
		s.redeemRefresh(w, r, f)
	case "client_credentials":
		s.federate(w, r, f)
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials")
	}
}

// federate answers the client_credentials grant with a federated assertion.
func (s *Server) federate(w http.ResponseWriter, r *http.Request, f url.Values) {
	client, assertion := f.Get("client_id"), f.Get("client_assertion")
	fail := func(status int, code, desc string) {
		s.trace(TraceEvent{Kind: TraceREST, Summary: "token for " + client + " (federated) refused: " + desc, Status: status})
		tokenError(w, status, code, desc)
	}
	switch {
	case f.Get("client_secret") != "":
		fail(http.StatusUnauthorized, "invalid_client", "the local tenant's apps have no secrets; use a federated client_assertion")
		return
	case assertion == "" || f.Get("client_assertion_type") != clientAssertionType:
		fail(http.StatusBadRequest, "invalid_request", "client_assertion and client_assertion_type "+clientAssertionType+" are required")
		return
	}
	resource, ok := defaultScopeResource(f.Get("scope"))
	if !ok {
		fail(http.StatusBadRequest, "invalid_scope", "scope must name one resource's /.default")
		return
	}
	iss := unverifiedIssuer(assertion)
	i := -1
	for j, c := range s.id.fed.creds {
		if c.ClientID == client && c.Issuer == iss {
			i = j
			break
		}
	}
	if i < 0 {
		fail(http.StatusUnauthorized, "invalid_client", "no federated credential of this client matches the assertion's issuer")
		return
	}
	if _, err := s.id.fed.vs[i].Verify(r.Context(), assertion); err != nil {
		var oe *oidc.Error
		desc := "the assertion is invalid"
		if errors.As(err, &oe) {
			desc = "the assertion is refused: " + oe.Reason
		}
		fail(http.StatusUnauthorized, "invalid_client", desc)
		return
	}
	tok, exp, err := s.localToken(baseURL(r), resource, client)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", "minting failed")
		return
	}
	s.trace(TraceEvent{Kind: TraceREST, Summary: "token for " + client + " (federated) for " + resource + " → 200", Status: 200})
	tokenAnswer(w, map[string]any{"token_type": "Bearer", "access_token": tok,
		"expires_in": int64(time.Until(exp) / time.Second), "ext_expires_in": int64(time.Until(exp) / time.Second)})
}

// defaultScopeResource returns the resource of the one "<resource>/.default"
// among scope's space-separated scopes (MSAL may add openid, profile and
// offline_access).
func defaultScopeResource(scope string) (string, bool) {
	var res string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access":
			continue
		}
		r, ok := strings.CutSuffix(sc, "/.default")
		if !ok || r == "" || res != "" {
			return "", false
		}
		res = r
	}
	return res, res != ""
}

// unverifiedIssuer reads iss from a JWT without verifying it, only to pick
// the credential whose verifier then checks everything.
func unverifiedIssuer(raw string) string {
	if len(raw) > oidc.MaxTokenBytes {
		return ""
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		return ""
	}
	return c.Issuer
}

func tokenAnswer(w http.ResponseWriter, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	json.NewEncoder(w).Encode(body)
}

// tokenError writes an OAuth error answer (RFC 6749 §5.2).
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error=`+strconv.Quote(code))
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
