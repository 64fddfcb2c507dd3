package broadcast

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/bearer"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// MinSecretLen is the shortest BROADCAST_SECRET or BROADCAST_JWT_SECRET accepted.
const MinSecretLen = 16

// Defaults of the fields whose zero value means a default.
const (
	DefaultJWTLeeway    = 30 * time.Second
	DefaultMaxBodyBytes = 1 << 20
)

// DefaultAllowedTargets are the "to" values accepted when AllowedTargets is nil.
var DefaultAllowedTargets = []string{"all", "user", "group", "connection"}

// Config configures the HTTP-triggered broadcast function. Callers must be
// authorized by BROADCAST_SECRET, BROADCAST_JWT_SECRET or an OIDC token (at least one).
// Config{} with the required fields behaves exactly as an environment with
// only their variables: zero values of JWTLeeway, MaxBodyBytes and
// AllowedTargets mean their defaults; negative numbers are refused.
type Config struct {
	// ConnectionString of the Web PubSub resource. Required unless WEBPUBSUB_ENDPOINT is set.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING"`
	// Identity reaches the resource without a key: WEBPUBSUB_ENDPOINT and an
	// Entra credential (WEBPUBSUB_CREDENTIAL, AZURE_*), instead of ConnectionString.
	auth.Identity
	// Hub the messages go to. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// Secret is a shared secret accepted as "Authorization: Bearer <secret>",
	// compared in constant time. At least MinSecretLen bytes.
	Secret string `env:"BROADCAST_SECRET"`
	// JWTSecret verifies "Authorization: Bearer <HS256 JWT>"; the JWT needs exp.
	// At least MinSecretLen bytes.
	JWTSecret string `env:"BROADCAST_JWT_SECRET"`
	// JWTIssuer, when set, must equal the JWT's iss.
	JWTIssuer string `env:"BROADCAST_JWT_ISSUER"`
	// JWTAudience, when set, must be among the JWT's aud.
	JWTAudience string `env:"BROADCAST_JWT_AUDIENCE"`
	// JWTLeeway tolerates clock skew when checking exp, nbf and iat; zero
	// means DefaultJWTLeeway.
	JWTLeeway time.Duration `env:"BROADCAST_JWT_LEEWAY"`

	// OIDC verifies callers' tokens from an OpenID Connect issuer (an Entra
	// app role, a service's client-credentials token...):
	// BROADCAST_OIDC_ISSUER and BROADCAST_OIDC_AUDIENCES turn it on;
	// BROADCAST_OIDC_ROLES_CLAIM with BROADCAST_OIDC_REQUIRE_ROLES limits it to
	// callers holding a role.
	OIDC auth.OIDC `envPrefix:"BROADCAST_"`
	// PlatformAuth lets the host authenticate callers instead of a bearer
	// credential: aws-iam (function URL AuthType AWS_IAM; the caller's ARN
	// from the request context is logged) or host (Azure authLevel function,
	// Cloud Functions --no-allow-unauthenticated). Empty: bearer credentials.
	PlatformAuth string `env:"BROADCAST_PLATFORM_AUTH"`

	// MaxBodyBytes bounds the request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64 `env:"BROADCAST_MAX_BODY_BYTES"`
	// AllowedTargets lists the accepted "to" values, among all, user, group,
	// connection; nil means DefaultAllowedTargets.
	AllowedTargets []string `env:"BROADCAST_ALLOWED_TARGETS"`

	// Logger receives one line per request; nil means slog.Default().
	Logger *slog.Logger `env:"-"`
	// HTTPClient is used for REST calls; nil means the default.
	HTTPClient *http.Client `env:"-"`
}

// LoadConfig reads Config from the environment. The error names the
// variables that are missing or malformed, never their values.
func LoadConfig() (Config, error) { return LoadConfigFrom(nil) }

// LoadConfigFrom is LoadConfig reading environ (KEY→value) instead of the
// process environment; nil means the process environment.
func LoadConfigFrom(environ map[string]string) (Config, error) {
	return fnconf.LoadChecked(environ, func(c *Config) error { _, err := c.validate(); return err })
}

// validate gives c its defaults, checks it and returns its parsed
// connection string.
func (c *Config) validate() (wps.ConnectionString, error) {
	c.setDefaults()
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub, &c.Identity)
	if err != nil {
		return cs, err
	}
	switch c.PlatformAuth {
	case "", PlatformAWSIAM, PlatformHost:
	default:
		return cs, fnconf.Invalid("BROADCAST_PLATFORM_AUTH", "must be aws-iam or host")
	}
	if c.Secret == "" && c.JWTSecret == "" && !bearer.OIDCEnabled(&c.OIDC) && c.PlatformAuth == "" {
		return cs, fnconf.Invalid("BROADCAST_SECRET", "is required unless BROADCAST_JWT_SECRET, BROADCAST_OIDC_ISSUER or BROADCAST_PLATFORM_AUTH is set (set at least one)")
	}
	if err := bearer.CheckOIDC(&c.OIDC, "BROADCAST_"); err != nil {
		return cs, err
	}
	if c.Secret != "" && len(c.Secret) < MinSecretLen {
		return cs, fnconf.Invalid("BROADCAST_SECRET", "must be at least 16 bytes")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < MinSecretLen {
		return cs, fnconf.Invalid("BROADCAST_JWT_SECRET", "must be at least 16 bytes")
	}
	if c.JWTLeeway < 0 {
		return cs, fnconf.Invalid("BROADCAST_JWT_LEEWAY", "must not be negative")
	}
	if c.MaxBodyBytes <= 0 {
		return cs, fnconf.Invalid("BROADCAST_MAX_BODY_BYTES", "must be positive")
	}
	if len(c.AllowedTargets) == 0 {
		return cs, fnconf.Invalid("BROADCAST_ALLOWED_TARGETS", "must list at least one of all, user, group, connection")
	}
	for _, t := range c.AllowedTargets {
		switch t {
		case "all", "user", "group", "connection":
		default:
			return cs, fnconf.Invalid("BROADCAST_ALLOWED_TARGETS", "names an unknown target "+strconv.Quote(t)+" (want all, user, group, connection)")
		}
	}
	return cs, nil
}

// setDefaults gives zero fields their documented defaults: the one place
// they are written.
func (c *Config) setDefaults() {
	if c.JWTLeeway == 0 {
		c.JWTLeeway = DefaultJWTLeeway
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.AllowedTargets == nil {
		c.AllowedTargets = slices.Clone(DefaultAllowedTargets)
	}
}
