package message

import (
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Defaults of the fields whose zero value means a default.
const (
	// DefaultRoomPattern is the room names accepted when RoomPattern is empty.
	DefaultRoomPattern  = `^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$`
	DefaultEvent        = "message"
	DefaultMaxBytes     = 4096
	DefaultMaxTextRunes = 1000
)

// Config configures the message function. Config{} with the two required
// fields behaves exactly as an environment with only their variables: zero
// values of Events, MaxBytes, MaxTextRunes and RoomPattern mean their
// defaults; negative numbers are refused.
type Config struct {
	// ConnectionString of the Web PubSub resource. Required unless WEBPUBSUB_ENDPOINT is set.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING"`
	// Identity reaches the resource without a key: WEBPUBSUB_ENDPOINT and an
	// Entra credential (WEBPUBSUB_CREDENTIAL, AZURE_*), instead of ConnectionString.
	auth.Identity
	// Hub whose upstream events this function serves. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// Events lists the user event names accepted; others get 400. Nil means
	// [DefaultEvent].
	Events []string `env:"MESSAGE_EVENTS"`
	// MaxBytes bounds the event's data (the JSON {room, text}); zero means
	// DefaultMaxBytes.
	MaxBytes int `env:"MESSAGE_MAX_BYTES"`
	// MaxTextRunes bounds the text in characters; zero means
	// DefaultMaxTextRunes.
	MaxTextRunes int `env:"MESSAGE_MAX_TEXT_RUNES"`
	// RoomPattern is a regular expression room names must match; empty means
	// DefaultRoomPattern.
	RoomPattern string `env:"MESSAGE_ROOM_PATTERN"`
	// AllowedRooms, when set, is the only rooms messages may go to.
	AllowedRooms []string `env:"MESSAGE_ALLOWED_ROOMS"`
	// AllowAnonymous accepts messages from connections without a user id
	// (sent as from "anonymous").
	AllowAnonymous bool `env:"MESSAGE_ALLOW_ANONYMOUS"`

	// AccessKeys are more keys accepted for ce-signature besides the
	// connection string's own (e.g. the secondary key while rotating).
	AccessKeys []string `env:"WEBPUBSUB_ACCESS_KEYS"`
	// EventAuth chooses how upstream requests are authenticated
	// (WEBPUBSUB_EVENTS_AUTH: ce-signature, the Entra token of the
	// resource's managed identity, either, or none).
	auth.EventAuth

	// Logger receives one line per event; nil means slog.Default().
	Logger *slog.Logger `env:"-"`
	// HTTPClient is used for REST calls; nil means the default.
	HTTPClient *http.Client `env:"-"`
	// Now stamps messages; nil means time.Now.
	Now func() time.Time `env:"-"`
}

// LoadConfig reads Config from the environment. The error names the
// variables that are missing or malformed, never their values.
func LoadConfig() (Config, error) { return LoadConfigFrom(nil) }

// LoadConfigFrom is LoadConfig reading environ (KEY→value) instead of the
// process environment; nil means the process environment.
func LoadConfigFrom(environ map[string]string) (Config, error) {
	return fnconf.LoadChecked(environ, func(c *Config) error { _, _, err := c.compile(); return err })
}

// compile gives c its defaults, checks it and returns its parsed connection
// string and room pattern.
func (c *Config) compile() (wps.ConnectionString, *regexp.Regexp, error) {
	c.setDefaults()
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub, &c.Identity)
	if err != nil {
		return cs, nil, err
	}
	if err := fnconf.CheckEvents(&c.EventAuth, cs, c.AccessKeys, &c.Identity); err != nil {
		return cs, nil, err
	}
	if len(c.Events) == 0 {
		return cs, nil, fnconf.Invalid("MESSAGE_EVENTS", "must list at least one event name")
	}
	for _, e := range c.Events {
		if e == "" {
			return cs, nil, fnconf.Invalid("MESSAGE_EVENTS", "holds an empty event name")
		}
	}
	if c.MaxBytes <= 0 {
		return cs, nil, fnconf.Invalid("MESSAGE_MAX_BYTES", "must be positive")
	}
	if c.MaxTextRunes <= 0 {
		return cs, nil, fnconf.Invalid("MESSAGE_MAX_TEXT_RUNES", "must be positive")
	}
	re, err := regexp.Compile(c.RoomPattern)
	if err != nil {
		return cs, nil, fnconf.Invalid("MESSAGE_ROOM_PATTERN", "is not a valid regular expression: "+err.Error())
	}
	for _, r := range c.AllowedRooms {
		if !re.MatchString(r) {
			return cs, nil, fnconf.Invalid("MESSAGE_ALLOWED_ROOMS", "has room "+strconv.Quote(r)+", which does not match MESSAGE_ROOM_PATTERN")
		}
	}
	return cs, re, nil
}

// setDefaults gives zero fields their documented defaults: the one place
// they are written.
func (c *Config) setDefaults() {
	if c.Events == nil {
		c.Events = []string{DefaultEvent}
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxTextRunes == 0 {
		c.MaxTextRunes = DefaultMaxTextRunes
	}
	if c.RoomPattern == "" {
		c.RoomPattern = DefaultRoomPattern
	}
}
