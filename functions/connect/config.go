package connect

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Defaults of the fields whose zero value means a default.
const (
	DefaultMaxGroups = 10
	DefaultRole      = "webpubsub.joinLeaveGroup"
)

// DefaultSubprotocols are the client subprotocols accepted when Subprotocols
// is nil, in order of preference.
var DefaultSubprotocols = []string{"json.reliable.webpubsub.azure.v1", "json.webpubsub.azure.v1", "protobuf.reliable.webpubsub.azure.v1", "protobuf.webpubsub.azure.v1"}

// Config configures the connect function (system events connect, connected,
// disconnected and the group events joined/left). Config{} with the two
// required fields behaves exactly as an environment with only their
// variables: zero fields mean the documented defaults, false booleans are
// the default behaviour, negative numbers are refused.
type Config struct {
	// ConnectionString of the Web PubSub resource. Required unless WEBPUBSUB_ENDPOINT is set.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING"`
	// Identity reaches the resource without a key: WEBPUBSUB_ENDPOINT and an
	// Entra credential (WEBPUBSUB_CREDENTIAL, AZURE_*), instead of ConnectionString.
	auth.Identity
	// Hub whose upstream events this function serves. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// AllowedGroups, when set, is the only groups a client may ask to join
	// with the "group" query parameter; anything else is refused with 403.
	// Empty means any valid group name.
	AllowedGroups []string `env:"CONNECT_ALLOWED_GROUPS"`
	// MaxGroups bounds how many groups one client may ask for; zero means
	// DefaultMaxGroups.
	MaxGroups int `env:"CONNECT_MAX_GROUPS"`
	// Roles are granted to every accepted connection; nil means
	// [DefaultRole].
	Roles []string `env:"CONNECT_ROLES"`
	// AllowAnonymous accepts clients whose token has no user (sub);
	// otherwise they are refused with 401.
	AllowAnonymous bool `env:"CONNECT_ALLOW_ANONYMOUS"`
	// Subprotocols are the client subprotocols accepted, in order of
	// preference; nil means DefaultSubprotocols.
	Subprotocols []string `env:"CONNECT_SUBPROTOCOLS"`
	// DisableGreet stops the {"type":"system","text":"welcome <user>"} sent
	// to each connection on connected.
	DisableGreet bool `env:"CONNECT_DISABLE_GREET"`
	// DisableLeaveAnnouncement stops the {"type":"system","event":"left",
	// "user":...} sent to the connection's groups on disconnected, and the
	// joined/left notices sent on the group presence events.
	DisableLeaveAnnouncement bool `env:"CONNECT_DISABLE_LEAVE_ANNOUNCEMENT"`

	// MQTTDevices authenticate MQTT clients by the CONNECT packet's username
	// and password: username → hex SHA-256 of the password
	// (CONNECT_MQTT_DEVICES=sensor1:5e88…,sensor2:…). A client that gives a
	// username must match; the user is then the username. Empty: MQTT
	// clients are identified by their token, like the others.
	MQTTDevices map[string]string `env:"CONNECT_MQTT_DEVICES"`

	// AccessKeys are more keys accepted for ce-signature besides the
	// connection string's own (e.g. the secondary key while rotating).
	AccessKeys []string `env:"WEBPUBSUB_ACCESS_KEYS"`
	// Events chooses how upstream requests are authenticated
	// (WEBPUBSUB_EVENTS_AUTH: ce-signature, the Entra token of the
	// resource's managed identity, either, or none).
	auth.EventAuth

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
	if err := fnconf.Renamed(environ, renamedVars); err != nil {
		return Config{}, err
	}
	return fnconf.LoadChecked(environ, func(c *Config) error { _, err := c.validate(); return err })
}

// renamedVars are variables of earlier versions, refused with their
// replacement named so that a deployment does not silently change behaviour.
var renamedVars = map[string]string{
	"CONNECT_GREET":          "CONNECT_DISABLE_GREET=true to stop greeting (greeting is the default)",
	"CONNECT_ANNOUNCE_LEAVE": "CONNECT_DISABLE_LEAVE_ANNOUNCEMENT=true to stop announcing leaves (announcing is the default)",
}

// setDefaults gives zero fields their documented defaults: the one place
// they are written.
func (c *Config) setDefaults() {
	if c.MaxGroups == 0 {
		c.MaxGroups = DefaultMaxGroups
	}
	if c.Roles == nil {
		c.Roles = []string{DefaultRole}
	}
	if c.Subprotocols == nil {
		c.Subprotocols = slices.Clone(DefaultSubprotocols)
	}
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

// validate gives c its defaults, checks it and returns its parsed
// connection string.
func (c *Config) validate() (wps.ConnectionString, error) {
	c.setDefaults()
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub, &c.Identity)
	if err != nil {
		return cs, err
	}
	if err := fnconf.CheckEvents(&c.EventAuth, cs, c.AccessKeys, &c.Identity); err != nil {
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
	if err := checkMQTTDevices(c.MQTTDevices); err != nil {
		return cs, err
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
