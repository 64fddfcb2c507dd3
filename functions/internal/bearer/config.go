package bearer

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

// OIDCEnabled reports whether c turns OIDC sign-in on.
func OIDCEnabled(c *auth.OIDC) bool { return c.Issuer != "" || c.JWKSURL != "" }

// CheckOIDC validates c; prefix is the function's environment prefix
// (NEGOTIATE_).
func CheckOIDC(c *auth.OIDC, prefix string) error {
	if !OIDCEnabled(c) {
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
	if _, err := oidcVerifier(c, nil, nil); err != nil {
		return fnconf.Invalid(prefix+"OIDC_*", strings.TrimPrefix(err.Error(), "oidc: "))
	}
	return nil
}

func oidcVerifier(c *auth.OIDC, log *slog.Logger, hc *http.Client) (*oidc.Verifier, error) {
	return oidc.New(oidc.Config{Issuer: c.Issuer, JWKSURL: c.JWKSURL, Issuers: c.Issuers, Tenants: c.Tenants,
		Audiences: c.Audiences, AudienceClaim: c.AudienceClaim, Algorithms: c.Algorithms, Leeway: c.Leeway,
		HTTPClient: hc, Logger: log})
}

// WithOIDC adds c to v and returns v: its OIDC verifier (none when c is
// off), user and roles claims. name prefixes the error.
func WithOIDC(name string, v *Verifier, c *auth.OIDC, log *slog.Logger, hc *http.Client) (*Verifier, error) {
	if !OIDCEnabled(c) {
		return v, nil
	}
	ov, err := oidcVerifier(c, log, hc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	v.OIDC, v.UserClaim, v.RolesClaim, v.RequireRoles = ov, c.UserClaim, c.RolesClaim, slices.Clone(c.RequireRoles)
	return v, nil
}
