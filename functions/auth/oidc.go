package auth

import "time"

// OIDC is the sign-in configuration negotiate and broadcast share, each
// under its own prefix (NEGOTIATE_OIDC_…, BROADCAST_OIDC_…): tokens of an
// OpenID Connect issuer, verified by pkg/oidc. Setting Issuer or JWKSURL
// turns it on; the zero OIDC is off, like an empty environment, and every
// zero field means the default its comment names.
type OIDC struct {
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
	// Leeway on exp, nbf and iat; zero means one minute, negative is refused.
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
