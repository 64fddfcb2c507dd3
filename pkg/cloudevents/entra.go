package cloudevents

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/pkg/oidc"
)

// EntraOptions configure an EntraAuthenticator.
type EntraOptions struct {
	// TenantID is the Microsoft Entra tenant of the Web PubSub resource's
	// managed identity and of the application registration. Required.
	TenantID string
	// Audiences are the hub handler's auth resource (auth-resource): the
	// application's App ID URI (api://…) and/or its application (client)
	// id. v1 tokens carry the resource as requested, v2 tokens always the
	// client id; list both. Required.
	Audiences []string
	// AllowedCallers are the Web PubSub resource's managed identity: its
	// object (principal) id, matched against oid, and/or its client id,
	// matched against appid (v1) or azp (v2). Required: any client in the
	// tenant can get a token for your application, so the audience alone
	// proves nothing about the caller.
	AllowedCallers []string
	// AuthorityHost is the Entra authority; empty means
	// oidc.DefaultEntraAuthority. The emulator's local tenant is one too.
	AuthorityHost string
	// Issuers replace the v2 and v1 issuers derived from AuthorityHost and
	// TenantID (oidc.EntraIssuers), for clouds where the derivation is wrong.
	Issuers []string
	// Leeway tolerates clock skew on exp and nbf; zero means oidc.DefaultLeeway.
	Leeway time.Duration
	// HTTPClient fetches the tenant's discovery document and keys; nil means
	// the verifier's own client.
	HTTPClient *http.Client
	// Logger receives a line when fetching keys fails; nil means slog.Default().
	Logger *slog.Logger
}

// EntraAuthenticator authenticates event requests by the Microsoft Entra ID
// access token the service sends ("Authorization: Bearer …") when the hub's
// event handler uses managed-identity authentication (auth-type
// ManagedIdentity) — the only upstream authentication left when the
// resource sets disableLocalAuth, which also stops ce-signature. It checks
// the signature by kid against the tenant's keys (OIDC discovery, rotation,
// rate-limited refresh: pkg/oidc), the v1 or v2 issuer of the tenant, the
// audience, exp and nbf, and that the caller is the pinned identity.
// Verified tokens are cached until they expire: the service reuses its
// token, so a request costs a hash and a map lookup. Combine it with *Keys
// through AnyOf while migrating. Safe for concurrent use.
type EntraAuthenticator struct {
	v *oidc.Verifier
}

// NewEntraAuthenticator checks opts and returns the authenticator. It does
// no I/O: the tenant's keys are fetched on the first request.
func NewEntraAuthenticator(opts EntraOptions) (*EntraAuthenticator, error) {
	v2, v1, err := oidc.EntraIssuers(opts.AuthorityHost, opts.TenantID)
	if err != nil {
		return nil, fmt.Errorf("cloudevents: EntraOptions: %w", err)
	}
	if len(opts.AllowedCallers) == 0 || slices.Contains(opts.AllowedCallers, "") {
		return nil, errors.New("cloudevents: EntraOptions.AllowedCallers must name the Web PubSub resource's managed identity (object id or client id)")
	}
	issuers := []string{v1}
	if len(opts.Issuers) > 0 {
		issuers = opts.Issuers
	}
	callers := slices.Clone(opts.AllowedCallers)
	tenant := opts.TenantID
	v, err := oidc.New(oidc.Config{
		Issuer:     v2,
		Issuers:    issuers,
		Audiences:  opts.Audiences,
		Algorithms: []string{"RS256"}, // Entra signs access tokens with RS256 only
		Leeway:     opts.Leeway,
		HTTPClient: opts.HTTPClient,
		Logger:     opts.Logger,
		Check: func(t *oidc.Token) error {
			if tid := t.String("tid"); tid != "" && !strings.EqualFold(tid, tenant) {
				return errors.New("token tenant not accepted")
			}
			for _, c := range []string{"oid", "appid", "azp"} {
				if s := t.String(c); s != "" && slices.Contains(callers, s) {
					return nil
				}
			}
			return errors.New("token caller (oid/appid/azp) is not the allowed Web PubSub identity")
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cloudevents: EntraOptions: %w", err)
	}
	return &EntraAuthenticator{v: v}, nil
}

// Errors of EntraAuthenticator.Authenticate besides a refused token.
var (
	ErrMissingBearer = errors.New("missing Authorization: Bearer header (is the hub's event handler auth type ManagedIdentity?)")
	ErrBadBearer     = errors.New("Authorization header is not a Bearer token")
)

// Authenticate verifies the request's bearer token. A refusal reads
// "bearer token refused: <reason>" and never quotes the token.
func (a *EntraAuthenticator) Authenticate(r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return ErrMissingBearer
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return ErrBadBearer
	}
	if _, err := a.v.Verify(r.Context(), strings.TrimSpace(tok)); err != nil {
		return &bearerRefused{err}
	}
	return nil
}

// bearerRefused reads "bearer token refused: <reason>"; errors.Is and
// errors.As reach the *oidc.Error (and oidc.ErrKeysUnavailable).
type bearerRefused struct{ err error }

func (e *bearerRefused) Error() string {
	var oe *oidc.Error
	if errors.As(e.err, &oe) {
		return "bearer token refused: " + oe.Reason
	}
	return "bearer token refused: " + e.err.Error()
}

func (e *bearerRefused) Unwrap() error { return e.err }
