// Package oidc verifies JSON Web Tokens issued by an OpenID Connect provider
// or by Microsoft Entra ID: the bearer tokens of users signing in to an
// application (Entra ID, Auth0, Cognito, Firebase, Google, any certified
// provider) and the access tokens Azure Web PubSub sends upstream when a hub's
// event handler uses managed-identity authentication.
//
// A Verifier finds the issuer's keys through OIDC discovery (or a JWKS URL),
// selects the key by the token's kid (github.com/MicahParks/keyfunc/v3 on
// github.com/golang-jwt/jwt/v5), fetches the key set again at most once per
// UnknownKeyInterval when a token names a kid it has not seen (so a flood of
// forged kids cannot make it hammer the issuer) and every RefreshInterval
// otherwise, on the next verification (no background goroutine: on a FaaS
// host the process is frozen between requests). It fails closed: only the
// configured algorithms (RS256 and ES256 by default; never none, never an
// HMAC algorithm, whose key would be the public key), the configured issuers
// and audiences, exp required, nbf and iat honoured with a small leeway, and
// an optional Check that pins the caller. Verified tokens are remembered by
// their SHA-256 until they expire, so a token a caller reuses costs a map
// lookup.
//
// Issuer quirks, and what to configure:
//
//   - Entra ID: v1 tokens carry iss https://sts.windows.net/{tenant}/, v2
//     tokens https://login.microsoftonline.com/{tenant}/v2.0; NewEntra accepts
//     both for one tenant. The multi-tenant metadata (/common,
//     /organizations) advertises the issuer template
//     https://login.microsoftonline.com/{tenantid}/v2.0: the token's tid is
//     substituted, and Tenants must list the tenants accepted.
//   - Auth0: the issuer has a trailing slash (https://example.auth0.com/);
//     discovery accepts the configured issuer with or without it, tokens must
//     carry the issuer exactly as the discovery document spells it. Access
//     tokens' aud is the API identifier.
//   - Cognito: Issuer https://cognito-idp.{region}.amazonaws.com/{poolId};
//     access tokens have no aud, so set AudienceClaim to "client_id" (ID
//     tokens: leave it empty, aud is the app client id). Its username claim is
//     "username" (access) or "cognito:username" (ID token).
//   - Firebase: Issuer https://securetoken.google.com/{projectId}, Audiences
//     the project id; Google publishes the same keys as a JWKS at
//     https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com
//     (set JWKSURL: the discovery document is Google's, not the project's).
//     RS256 only.
//   - Google: Issuer https://accounts.google.com, Audiences your OAuth
//     client id.
package oidc
