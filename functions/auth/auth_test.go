package auth_test

import (
	"testing"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/broadcast"
	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/functions/negotiate"
	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/internal/assert"
)

// keyless is an environment without a key: the endpoint, a federated
// credential and Entra-authenticated events.
var keyless = map[string]string{
	"WEBPUBSUB_HUB":                 "chat",
	"WEBPUBSUB_ENDPOINT":            "https://x.webpubsub.azure.com",
	"WEBPUBSUB_CREDENTIAL":          "aws-federation",
	"AZURE_TENANT_ID":               "tenant-1",
	"AZURE_CLIENT_ID":               "client-1",
	"WEBPUBSUB_FEDERATION_AUDIENCE": "api://fed",
	"WEBPUBSUB_EVENTS_AUTH":         "entra",
	"WEBPUBSUB_EVENTS_TENANT_ID":    "tenant-2",
	"WEBPUBSUB_EVENTS_AUDIENCES":    "api://events,events-client",
	"WEBPUBSUB_EVENTS_CALLERS":      "principal-1",
	"WEBPUBSUB_EVENTS_AUTHORITY":    "https://login.example/",
}

var (
	wantIdentity = auth.Identity{Endpoint: "https://x.webpubsub.azure.com", Credential: auth.CredAWSFederation,
		TenantID: "tenant-1", ClientID: "client-1", FederationAudience: "api://fed"}
	wantEvents = auth.EventAuth{Auth: auth.EventsEntra, TenantID: "tenant-2", Audiences: []string{"api://events", "events-client"},
		AllowedCallers: []string{"principal-1"}, Authority: "https://login.example/"}
	wantOIDC = auth.OIDC{Issuer: "https://issuer.example/", Audiences: []string{"api://app"}, UserClaim: "oid",
		RolesClaim: "roles", RequireRoles: []string{"sender"}}
)

// with is keyless plus more.
func with(more map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range keyless {
		env[k] = v
	}
	for k, v := range more {
		env[k] = v
	}
	return env
}

// oidcEnv is wantOIDC's environment under prefix.
func oidcEnv(prefix string) map[string]string {
	return map[string]string{prefix + "OIDC_ISSUER": "https://issuer.example/", prefix + "OIDC_AUDIENCES": "api://app",
		prefix + "OIDC_USER_CLAIM": "oid", prefix + "OIDC_ROLES_CLAIM": "roles", prefix + "OIDC_REQUIRE_ROLES": "sender"}
}

// TestEnvironmentFillsTheSettings: each function's environment fills the
// public settings types exactly as a Config literal sets them, so code
// that builds a Config gets what the variables give.
func TestEnvironmentFillsTheSettings(t *testing.T) {
	t.Run("connect", func(t *testing.T) {
		c, err := connect.LoadConfigFrom(keyless)
		assert.Success(t, err)
		assert.Equal(t, "Identity", c.Identity, wantIdentity)
		assert.Equal(t, "EventAuth", c.EventAuth, wantEvents)
	})
	t.Run("message", func(t *testing.T) {
		c, err := message.LoadConfigFrom(keyless)
		assert.Success(t, err)
		assert.Equal(t, "Identity", c.Identity, wantIdentity)
		assert.Equal(t, "EventAuth", c.EventAuth, wantEvents)
	})
	t.Run("negotiate", func(t *testing.T) {
		c, err := negotiate.LoadConfigFrom(with(oidcEnv("NEGOTIATE_")))
		assert.Success(t, err)
		assert.Equal(t, "Identity", c.Identity, wantIdentity)
		assert.Equal(t, "OIDC", c.OIDC, wantOIDC)
	})
	t.Run("broadcast", func(t *testing.T) {
		c, err := broadcast.LoadConfigFrom(with(oidcEnv("BROADCAST_")))
		assert.Success(t, err)
		assert.Equal(t, "Identity", c.Identity, wantIdentity)
		assert.Equal(t, "OIDC", c.OIDC, wantOIDC)
	})
	t.Run("relay", func(t *testing.T) {
		c, err := relay.LoadConfigFrom(keyless)
		assert.Success(t, err)
		assert.Equal(t, "Identity", c.Identity, wantIdentity)
	})
}

// TestLiteralsBuild: the same settings written as Config literals build
// each function, and the zero settings are refused exactly as an empty
// environment is.
func TestLiteralsBuild(t *testing.T) {
	t.Run("connect", func(t *testing.T) {
		_, err := connect.New(connect.Config{Hub: "chat", Identity: wantIdentity, EventAuth: wantEvents})
		assert.Success(t, err)
	})
	t.Run("message", func(t *testing.T) {
		_, err := message.New(message.Config{Hub: "chat", Identity: wantIdentity, EventAuth: wantEvents})
		assert.Success(t, err)
	})
	t.Run("negotiate", func(t *testing.T) {
		_, err := negotiate.New(negotiate.Config{Hub: "chat", Identity: wantIdentity, OIDC: wantOIDC})
		assert.Success(t, err)
	})
	t.Run("broadcast", func(t *testing.T) {
		_, err := broadcast.New(broadcast.Config{Hub: "chat", Identity: wantIdentity, OIDC: wantOIDC})
		assert.Success(t, err)
	})
	t.Run("relay", func(t *testing.T) {
		_, err := relay.New(relay.Config{Hub: "chat", Identity: wantIdentity})
		assert.Success(t, err)
	})
	t.Run("zero settings", func(t *testing.T) {
		_, err := connect.New(connect.Config{Hub: "chat"})
		_, envErr := connect.LoadConfigFrom(map[string]string{"WEBPUBSUB_HUB": "chat"})
		assert.Error(t, err)
		assert.Equal(t, "error", err.Error(), envErr.Error())
	})
}
