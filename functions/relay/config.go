package relay

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/envelope"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// The defaults of the fields whose zero value means "the default".
const (
	DefaultDedupeWindow   = 15 * time.Minute
	DefaultDedupeMaxIDs   = 100_000
	DefaultDedupeMaxBytes = 16 << 20
	DefaultSendTimeout    = 10 * time.Second
	DefaultSendRetries    = 1
)

// Config configures the relay. Config{} with a connection string and a
// hub behaves as an environment with only those two variables set.
type Config struct {
	// ConnectionString of the Web PubSub resource. Required unless WEBPUBSUB_ENDPOINT is set.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING"`
	// Identity reaches the resource without a key: WEBPUBSUB_ENDPOINT and an
	// Entra credential (WEBPUBSUB_CREDENTIAL, AZURE_*), instead of ConnectionString.
	auth.Identity
	// Hub the messages go to. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// AllowedTargets lists the accepted "to" values, among all, user,
	// group, connection; empty means all four.
	AllowedTargets []string `env:"RELAY_ALLOWED_TARGETS"`

	// DedupeWindow is how long a message id is remembered after its message
	// was sent (or dropped): a redelivery within it is not sent again.
	// Zero means DefaultDedupeWindow. Make it at least the platform's
	// redelivery window (SQS: visibility timeout × maxReceiveCount).
	DedupeWindow time.Duration `env:"RELAY_DEDUPE_WINDOW"`
	// DedupeMaxIDs bounds the ids remembered (the oldest go first); zero
	// means DefaultDedupeMaxIDs.
	DedupeMaxIDs int `env:"RELAY_DEDUPE_MAX_IDS"`
	// DedupeMaxBytes bounds the memory the remembered ids take, counted as
	// their length plus a fixed overhead each; zero means DefaultDedupeMaxBytes.
	DedupeMaxBytes int64 `env:"RELAY_DEDUPE_MAX_BYTES"`
	// DisableDedupe sends every delivery, redeliveries included.
	DisableDedupe bool `env:"RELAY_DISABLE_DEDUPE"`

	// IDField, when set, adds the platform's message id to every JSON
	// object message as this member (unless the object has it already), so
	// clients can drop what reaches them twice across instances. Text and
	// binary messages are sent unchanged.
	IDField string `env:"RELAY_ID_FIELD"`

	// SendTimeout bounds one message's REST call, retries included; zero
	// means DefaultSendTimeout.
	SendTimeout time.Duration `env:"RELAY_SEND_TIMEOUT"`

	// SendRetries is how often pkg/wps retries a failed REST call within one
	// delivery before the message is reported failed (and the platform
	// redelivers it later); zero means DefaultSendRetries, a negative value
	// no retries.
	SendRetries int `env:"RELAY_SEND_RETRIES"`

	// Map turns on the mapping mode for events that are not envelopes:
	// see Mapping. Empty MapTo means every message is an envelope.
	Map Mapping `envPrefix:"RELAY_MAP_"`

	// Logger receives a line per message sent or dropped as a duplicate; nil
	// means slog.Default(). Failures are logged by the host adapter (pkg/faas,
	// on slog.Default()) with the message id, permanent or to be redelivered.
	Logger *slog.Logger `env:"-"`
	// HTTPClient is used for REST calls; nil means the default.
	HTTPClient *http.Client `env:"-"`
}

// Mapping builds the envelope from a foreign event: the target from To and
// a fixed ID, a message attribute or a JSON Pointer into the body; the
// message from the body, or the part of it a JSON Pointer selects. For
// EventBridge the body is the event's detail; for Event Grid, its data.
type Mapping struct {
	// To is the target kind: all, user, group or connection. Setting it
	// turns the mapping mode on.
	To string `env:"TO"`
	// ID is a fixed user id, group name or connection id.
	ID string `env:"ID"`
	// IDAttribute names the message attribute that holds the id (SQS or
	// SNS message attribute, Service Bus application property, Pub/Sub
	// attribute, Event Grid "subject"...).
	IDAttribute string `env:"ID_ATTRIBUTE"`
	// IDPointer is a JSON Pointer (RFC 6901) to a string in the body that
	// holds the id.
	IDPointer string `env:"ID_POINTER"`
	// DataPointer is a JSON Pointer to the part of the body to send as JSON;
	// empty sends the whole body: as JSON when it is JSON, else as text
	// when it is UTF-8, else as binary.
	DataPointer string `env:"DATA_POINTER"`
}

// LoadConfig reads Config from the environment. The error names the
// variables that are missing or malformed, never their values.
func LoadConfig() (Config, error) { return LoadConfigFrom(nil) }

// LoadConfigFrom is LoadConfig reading environ (KEY→value) instead of the
// process environment; nil means the process environment.
func LoadConfigFrom(environ map[string]string) (Config, error) {
	return fnconf.LoadChecked(environ, func(c *Config) error { _, err := c.validate(); return err })
}

// withDefaults is c with every zero field given its default: the one place
// the defaults are applied.
func (c Config) withDefaults() Config {
	if len(c.AllowedTargets) == 0 {
		c.AllowedTargets = envelope.Targets
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = DefaultDedupeWindow
	}
	if c.DedupeMaxIDs == 0 {
		c.DedupeMaxIDs = DefaultDedupeMaxIDs
	}
	if c.DedupeMaxBytes == 0 {
		c.DedupeMaxBytes = DefaultDedupeMaxBytes
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.SendRetries == 0 {
		c.SendRetries = DefaultSendRetries
	}
	return c
}

// validate checks c and returns its parsed connection string.
func (c Config) validate() (wps.ConnectionString, error) {
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub, &c.Identity)
	if err != nil {
		return cs, err
	}
	for _, t := range c.AllowedTargets {
		if !isTarget(t) {
			return cs, fnconf.Invalid("RELAY_ALLOWED_TARGETS", "names an unknown target "+strconv.Quote(t)+" (want all, user, group, connection)")
		}
	}
	switch {
	case c.DedupeWindow < 0:
		return cs, fnconf.Invalid("RELAY_DEDUPE_WINDOW", "must not be negative")
	case c.DedupeMaxIDs < 0:
		return cs, fnconf.Invalid("RELAY_DEDUPE_MAX_IDS", "must not be negative")
	case c.DedupeMaxBytes < 0:
		return cs, fnconf.Invalid("RELAY_DEDUPE_MAX_BYTES", "must not be negative")
	case c.SendTimeout < 0:
		return cs, fnconf.Invalid("RELAY_SEND_TIMEOUT", "must not be negative")
	case len(c.IDField) > 64:
		return cs, fnconf.Invalid("RELAY_ID_FIELD", "must be at most 64 bytes")
	}
	return cs, c.Map.validate()
}

func isTarget(t string) bool {
	switch t {
	case "all", "user", "group", "connection":
		return true
	}
	return false
}

func (m Mapping) validate() error {
	if m.To == "" {
		if m.ID != "" || m.IDAttribute != "" || m.IDPointer != "" || m.DataPointer != "" {
			return fnconf.Invalid("RELAY_MAP_TO", "is required when another RELAY_MAP_ variable is set")
		}
		return nil
	}
	if !isTarget(m.To) {
		return fnconf.Invalid("RELAY_MAP_TO", "must be all, user, group or connection")
	}
	n := 0
	for _, s := range []string{m.ID, m.IDAttribute, m.IDPointer} {
		if s != "" {
			n++
		}
	}
	switch {
	case m.To == "all" && n > 0:
		return fnconf.Invalid("RELAY_MAP_TO", "all takes no RELAY_MAP_ID, RELAY_MAP_ID_ATTRIBUTE or RELAY_MAP_ID_POINTER")
	case m.To != "all" && n != 1:
		return fnconf.Invalid("RELAY_MAP_TO", m.To+" needs exactly one of RELAY_MAP_ID, RELAY_MAP_ID_ATTRIBUTE, RELAY_MAP_ID_POINTER")
	}
	if _, err := parsePointer(m.IDPointer); err != nil {
		return fnconf.Invalid("RELAY_MAP_ID_POINTER", "is not a JSON Pointer: "+err.Error())
	}
	if _, err := parsePointer(m.DataPointer); err != nil {
		return fnconf.Invalid("RELAY_MAP_DATA_POINTER", "is not a JSON Pointer: "+err.Error())
	}
	return nil
}
