package bearer

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

// OIDCConfig is the user sign-in configuration negotiate and broadcast
// share, each under its own prefix (NEGOTIATE_OIDC_…, BROADCAST_OIDC_…).
// Setting ISSUER or JWKS_URL turns it on. Its zero value is off, like an
// empty environment; every zero field means the default its comment names.
type OIDCConfig struct {
	// Issuer is the issuer URL; its discovery document names the key set
	// (Entra: https://login.microsoftonline.com/<tenant>/v2.0; Auth0:
	// https://<domain>/; Cognito: https://cognito-idp.<region>.amazonaws.com/<pool>).
	Issuer string `env:"OIDC_ISSUER"`
	// JWKSURL is the key set's URL, instead of discovery (Firebase); then
	// Issuer (or Issuers) is only the iss the tokens must carry.
	JWKSURL string `env:"OIDC_JWKS_URL"`
	// Issuers are further accepted iss values (Entra v1: https://sts.windows.net/<tenant>/).
	Issuers []string `env:"OIDC_ISSUERS"`
	// Tenants are the Entra tenants accepted from a multi-tenant issuer (/organizations/v2.0).
	Tenants []string `env:"OIDC_TENANTS"`
	// Audiences: the token's aud must hold one (your client id or API identifier). Required.
	Audiences []string `env:"OIDC_AUDIENCES"`
	// AudienceClaim is compared with Audiences instead of aud (Cognito access tokens: client_id).
	AudienceClaim string `env:"OIDC_AUDIENCE_CLAIM"`
	// Algorithms accepted; empty means RS256,ES256. HS* and none are refused.
	Algorithms []string `env:"OIDC_ALGORITHMS"`
	// Leeway on exp, nbf and iat; zero means one minute.
	Leeway time.Duration `env:"OIDC_LEEWAY"`
	// UserClaim is the claim that becomes the user id; empty means sub
	// (also: oid, email, preferred_username, username for Cognito).
	UserClaim string `env:"OIDC_USER_CLAIM"`
	// RolesClaim names the claim holding roles, groups or scopes (roles,
	// groups, scp, cognito:groups); empty means none.
	RolesClaim string `env:"OIDC_ROLES_CLAIM"`
	// RequireRoles refuses (403) a token whose RolesClaim holds none of them.
	RequireRoles []string `env:"OIDC_REQUIRE_ROLES"`
}

// Enabled reports whether c turns OIDC sign-in on.
func (c *OIDCConfig) Enabled() bool { return c.Issuer != "" || c.JWKSURL != "" }

// Check validates c; prefix is the function's environment prefix (NEGOTIATE_).
func (c *OIDCConfig) Check(prefix string) error {
	if !c.Enabled() {
		for _, set := range []struct {
			key string
			on  bool
		}{{"OIDC_AUDIENCES", len(c.Audiences) > 0}, {"OIDC_USER_CLAIM", c.UserClaim != ""}, {"OIDC_REQUIRE_ROLES", len(c.RequireRoles) > 0 && c.RolesClaim == ""}} {
			if set.on {
				return fnconf.Invalid(prefix+set.key, "is set but "+prefix+"OIDC_ISSUER and "+prefix+"OIDC_JWKS_URL are not")
			}
		}
		return nil
	}
	if len(c.RequireRoles) > 0 && c.RolesClaim == "" {
		return fnconf.Invalid(prefix+"OIDC_REQUIRE_ROLES", "needs "+prefix+"OIDC_ROLES_CLAIM")
	}
	if _, err := c.verifier(nil, nil); err != nil {
		return fnconf.Invalid(prefix+"OIDC_*", strings.TrimPrefix(err.Error(), "oidc: "))
	}
	return nil
}

func (c *OIDCConfig) verifier(log *slog.Logger, hc *http.Client) (*oidc.Verifier, error) {
	return oidc.New(oidc.Config{Issuer: c.Issuer, JWKSURL: c.JWKSURL, Issuers: c.Issuers, Tenants: c.Tenants,
		Audiences: c.Audiences, AudienceClaim: c.AudienceClaim, Algorithms: c.Algorithms, Leeway: c.Leeway,
		HTTPClient: hc, Logger: log})
}

// Apply adds c to v: its OIDC verifier (nil when c is off), user and roles claims.
func (c *OIDCConfig) Apply(v *Verifier, log *slog.Logger, hc *http.Client) error {
	if !c.Enabled() {
		return nil
	}
	ov, err := c.verifier(log, hc)
	if err != nil {
		return err
	}
	v.OIDC, v.UserClaim, v.RolesClaim, v.RequireRoles = ov, c.UserClaim, c.RolesClaim, slices.Clone(c.RequireRoles)
	return nil
}
