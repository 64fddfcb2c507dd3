package negotiate

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/bearer"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// MinSecretLen is the shortest NEGOTIATE_JWT_SECRET accepted.
const MinSecretLen = 16

// Defaults of the fields whose zero value means a default.
const (
	DefaultJWTLeeway     = 30 * time.Second
	DefaultTokenLifetime = time.Hour
)

// Config configures the negotiate function. Config{} with the required
// fields behaves exactly as an environment with only their variables: zero
// values of JWTLeeway and TokenLifetime mean their defaults; negative
// durations are refused.
type Config struct {
	// ConnectionString of the Web PubSub resource. Required unless WEBPUBSUB_ENDPOINT is set.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING"`
	// Identity reaches the resource without a key: WEBPUBSUB_ENDPOINT and an
	// Entra credential (WEBPUBSUB_CREDENTIAL, AZURE_*), instead of ConnectionString.
	auth.Identity
	// Hub clients connect to. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// JWTSecret verifies the application's HS256 JWT in "Authorization: Bearer";
	// its sub is the user id. Required unless AllowQueryUser is set.
	JWTSecret string `env:"NEGOTIATE_JWT_SECRET"`
	// JWTIssuer, when set, must equal the JWT's iss.
	JWTIssuer string `env:"NEGOTIATE_JWT_ISSUER"`
	// JWTAudience, when set, must be among the JWT's aud.
	JWTAudience string `env:"NEGOTIATE_JWT_AUDIENCE"`
	// JWTLeeway tolerates clock skew when checking exp, nbf and iat; zero
	// means DefaultJWTLeeway.
	JWTLeeway time.Duration `env:"NEGOTIATE_JWT_LEEWAY"`
	// OIDC verifies users' tokens from an OpenID Connect issuer (Entra ID,
	// Auth0, Cognito, Firebase, Google...): NEGOTIATE_OIDC_ISSUER and
	// NEGOTIATE_OIDC_AUDIENCES turn it on. HS256 tokens still go to JWTSecret.
	OIDC auth.OIDC `envPrefix:"NEGOTIATE_"`
	// RoleMap maps values of the token's roles claim (NEGOTIATE_OIDC_ROLES_CLAIM)
	// to Web PubSub roles added to the client token: "admin=webpubsub.sendToGroup,…".
	RoleMap []string `env:"NEGOTIATE_ROLE_MAP"`
	// GroupMap maps values of the roles claim to groups joined on connect: "team-a=room-a,…".
	GroupMap []string `env:"NEGOTIATE_GROUP_MAP"`

	// AllowQueryUser trusts a ?userId= query parameter when no bearer token is
	// sent. For local development only: anyone can claim any user.
	AllowQueryUser bool `env:"NEGOTIATE_ALLOW_QUERY_USER"`

	// Roles are put in the client token.
	Roles []string `env:"NEGOTIATE_ROLES"`
	// Groups are joined on connect (the token's webpubsub.group claim).
	Groups []string `env:"NEGOTIATE_GROUPS"`
	// TokenLifetime is the client token's lifetime, 1m to 24h; zero means
	// DefaultTokenLifetime.
	TokenLifetime time.Duration `env:"NEGOTIATE_TOKEN_LIFETIME"`
	// AllowedOrigins are the browser origins allowed by CORS ("*" for any);
	// empty sends no CORS headers (same-origin pages only).
	AllowedOrigins []string `env:"NEGOTIATE_ALLOWED_ORIGINS"`

	// Logger receives one line per request; nil means slog.Default().
	Logger *slog.Logger `env:"-"`
	// HTTPClient is used for REST calls (token generation with Entra); nil means the default.
	HTTPClient *http.Client `env:"-"`
	// Now replaces time.Now when checking the application's JWT (tests).
	Now func() time.Time `env:"-"`
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
	if c.JWTSecret == "" && !c.AllowQueryUser && !bearer.OIDCEnabled(&c.OIDC) {
		return cs, fnconf.Invalid("NEGOTIATE_JWT_SECRET", "is required unless NEGOTIATE_OIDC_ISSUER is set or NEGOTIATE_ALLOW_QUERY_USER=true (local development)")
	}
	if err := bearer.CheckOIDC(&c.OIDC, "NEGOTIATE_"); err != nil {
		return cs, err
	}
	for _, m := range []struct {
		key  string
		list []string
	}{{"NEGOTIATE_ROLE_MAP", c.RoleMap}, {"NEGOTIATE_GROUP_MAP", c.GroupMap}} {
		if len(m.list) > 0 && c.OIDC.RolesClaim == "" {
			return cs, fnconf.Invalid(m.key, "needs NEGOTIATE_OIDC_ROLES_CLAIM")
		}
		if _, err := parseMap(m.list); err != nil {
			return cs, fnconf.Invalid(m.key, err.Error())
		}
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < MinSecretLen {
		return cs, fnconf.Invalid("NEGOTIATE_JWT_SECRET", "must be at least 16 bytes")
	}
	if c.JWTLeeway < 0 {
		return cs, fnconf.Invalid("NEGOTIATE_JWT_LEEWAY", "must not be negative")
	}
	if c.TokenLifetime < time.Minute || c.TokenLifetime > 24*time.Hour {
		return cs, fnconf.Invalid("NEGOTIATE_TOKEN_LIFETIME", "must be between 1m and 24h")
	}
	for _, r := range c.Roles {
		if r == "" {
			return cs, fnconf.Invalid("NEGOTIATE_ROLES", "holds an empty role")
		}
	}
	for _, g := range c.Groups {
		if g == "" || len(g) > 1024 {
			return cs, fnconf.Invalid("NEGOTIATE_GROUPS", "has group "+strconv.Quote(g)+", which is not a valid group name")
		}
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && !validOrigin(o) {
			return cs, fnconf.Invalid("NEGOTIATE_ALLOWED_ORIGINS", "has origin "+strconv.Quote(o)+", which is not * or scheme://host[:port]")
		}
	}
	return cs, nil
}

// validOrigin reports whether o is a browser origin: scheme://host[:port].
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// setDefaults gives zero fields their documented defaults: the one place
// they are written.
func (c *Config) setDefaults() {
	if c.JWTLeeway == 0 {
		c.JWTLeeway = DefaultJWTLeeway
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = DefaultTokenLifetime
	}
}

// parseMap reads "claimValue=target" pairs into claimValue → targets.
func parseMap(pairs []string) (map[string][]string, error) {
	m := map[string][]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, errors.New("has an entry that is not value=target")
		}
		m[k] = append(m[k], v)
	}
	return m, nil
}
