package message

import (
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// DefaultRoomPattern is the room names accepted when MESSAGE_ROOM_PATTERN is unset.
const DefaultRoomPattern = `^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$`

// Config configures the message function. Zero values of Events, MaxBytes,
// MaxTextRunes and RoomPattern mean their defaults.
type Config struct {
	// ConnectionString of the Web PubSub resource. Required.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING,required,notEmpty"`
	// Hub whose upstream events this function serves. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// Events lists the user event names accepted; others get 400.
	Events []string `env:"MESSAGE_EVENTS" envDefault:"message"`
	// MaxBytes bounds the event's data (the JSON {room, text}).
	MaxBytes int `env:"MESSAGE_MAX_BYTES" envDefault:"4096"`
	// MaxTextRunes bounds the text in characters.
	MaxTextRunes int `env:"MESSAGE_MAX_TEXT_RUNES" envDefault:"1000"`
	// RoomPattern is a regular expression room names must match.
	RoomPattern string `env:"MESSAGE_ROOM_PATTERN" envDefault:"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$"`
	// AllowedRooms, when set, is the only rooms messages may go to.
	AllowedRooms []string `env:"MESSAGE_ALLOWED_ROOMS"`
	// AllowAnonymous accepts messages from connections without a user id
	// (sent as from "anonymous").
	AllowAnonymous bool `env:"MESSAGE_ALLOW_ANONYMOUS" envDefault:"false"`

	// AccessKeys are more keys accepted for ce-signature besides the
	// connection string's own (e.g. the secondary key while rotating).
	AccessKeys []string `env:"WEBPUBSUB_ACCESS_KEYS"`

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

// compile checks c and returns its parsed connection string and room pattern.
func (c *Config) compile() (wps.ConnectionString, *regexp.Regexp, error) {
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub)
	if err != nil {
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
	pattern := c.RoomPattern
	if pattern == "" {
		pattern = DefaultRoomPattern
	}
	re, err := regexp.Compile(pattern)
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

// setDefaults gives zero fields (a config built in code) their documented
// defaults; LoadConfig already applied them from the environment tags.
func (c *Config) setDefaults() {
	if c.Events == nil {
		c.Events = []string{"message"}
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 4096
	}
	if c.MaxTextRunes == 0 {
		c.MaxTextRunes = 1000
	}
}
