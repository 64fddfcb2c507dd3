// Package auth holds the authentication settings the functions share, so
// that a Config literal can set them as the environment does:
//
//   - Identity: how a function reaches the Web PubSub REST API without an
//     access key (WEBPUBSUB_ENDPOINT, WEBPUBSUB_CREDENTIAL, AZURE_*);
//   - EventAuth: how connect and message authenticate the service's
//     upstream requests (WEBPUBSUB_EVENTS_*);
//   - OIDC: how negotiate and broadcast verify users' and callers' tokens
//     of an OpenID Connect issuer (NEGOTIATE_OIDC_*, BROADCAST_OIDC_*).
//
// The types are plain settings: each field's env tag names its variable,
// and the zero value of each type is what an empty environment gives. The
// functions check them in New and LoadConfig, with errors that name the
// variables.
package auth
