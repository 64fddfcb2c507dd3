package connect

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Config configures the connect function (system events connect, connected,
// disconnected and the group events joined/left).
type Config struct {
	// ConnectionString of the Web PubSub resource. Required.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING,required,notEmpty"`
	// Hub whose upstream events this function serves. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// AllowedGroups, when set, is the only groups a client may ask to join
	// with the "group" query parameter; anything else is refused with 403.
	// Empty means any valid group name.
	AllowedGroups []string `env:"CONNECT_ALLOWED_GROUPS"`
	// MaxGroups bounds how many groups one client may ask for.
	MaxGroups int `env:"CONNECT_MAX_GROUPS" envDefault:"10"`
	// Roles are granted to every accepted connection.
	Roles []string `env:"CONNECT_ROLES" envDefault:"webpubsub.joinLeaveGroup"`
	// AllowAnonymous accepts clients whose token has no user (sub);
	// otherwise they are refused with 401.
	AllowAnonymous bool `env:"CONNECT_ALLOW_ANONYMOUS" envDefault:"false"`
	// Subprotocols are the client subprotocols accepted, in order of preference.
	Subprotocols []string `env:"CONNECT_SUBPROTOCOLS" envDefault:"json.reliable.webpubsub.azure.v1,json.webpubsub.azure.v1,protobuf.reliable.webpubsub.azure.v1,protobuf.webpubsub.azure.v1"`
	// Greet sends {"type":"system","text":"welcome <user>"} on connected.
	Greet bool `env:"CONNECT_GREET" envDefault:"true"`
	// AnnounceLeave sends {"type":"system","event":"left","user":...} to the
	// connection's groups on disconnected.
	AnnounceLeave bool `env:"CONNECT_ANNOUNCE_LEAVE" envDefault:"true"`

	// AccessKeys are more keys accepted for ce-signature besides the
	// connection string's own (e.g. the secondary key while rotating).
	AccessKeys []string `env:"WEBPUBSUB_ACCESS_KEYS"`

	// Logger receives one line per event; nil means slog.Default().
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

// validRole reports whether r has the shape of a Web PubSub role,
// webpubsub.<verb>[.<target>] (the pattern
// ^webpubsub\.(joinLeaveGroup|sendToGroup|joinLeaveGroups|sendToGroups)(\..+)?$,
// checked by hand: compiling it would cost every cold start).
func validRole(r string) bool {
	rest, ok := strings.CutPrefix(r, "webpubsub.")
	if !ok {
		return false
	}
	verb, target, scoped := strings.Cut(rest, ".")
	switch verb {
	case "joinLeaveGroup", "sendToGroup", "joinLeaveGroups", "sendToGroups":
	default:
		return false
	}
	return !scoped || target != "" && !strings.Contains(target, "\n")
}

// validate checks c and returns its parsed connection string.
func (c *Config) validate() (wps.ConnectionString, error) {
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub)
	if err != nil {
		return cs, err
	}
	for _, g := range c.AllowedGroups {
		if !validGroup(g) {
			return cs, fnconf.Invalid("CONNECT_ALLOWED_GROUPS", "has group "+strconv.Quote(g)+", which is not a valid group name")
		}
	}
	if c.MaxGroups < 0 {
		return cs, fnconf.Invalid("CONNECT_MAX_GROUPS", "must not be negative")
	}
	for _, r := range c.Roles {
		if !validRole(r) {
			return cs, fnconf.Invalid("CONNECT_ROLES", "has role "+strconv.Quote(r)+", which is not webpubsub.joinLeaveGroup[.<group>] or webpubsub.sendToGroup[.<group>]")
		}
	}
	for _, s := range c.Subprotocols {
		if s == "" {
			return cs, fnconf.Invalid("CONNECT_SUBPROTOCOLS", "holds an empty name")
		}
	}
	return cs, nil
}

// validGroup reports whether g is a group name the REST API accepts:
// 1 to 1024 bytes, not only whitespace, no control characters.
func validGroup(g string) bool { return ident.Check(g, 1024) == nil }
