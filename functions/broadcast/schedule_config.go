package broadcast

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Defaults of the ScheduleConfig fields whose zero value means a default.
const (
	// DefaultScheduleMessage is the heartbeat sent when Message is empty.
	DefaultScheduleMessage     = `{"type":"heartbeat","time":"{{.Time}}"}`
	DefaultScheduleTarget      = "all"
	DefaultScheduleContentType = "json"
)

// ScheduleConfig configures the scheduled broadcast: on each tick it renders
// Message with the tick's time and sends it to Target. ScheduleConfig{} with
// the two required fields behaves exactly as an environment with only their
// variables: zero values of Target, Message and ContentType mean their
// defaults.
type ScheduleConfig struct {
	// ConnectionString of the Web PubSub resource. Required unless WEBPUBSUB_ENDPOINT is set.
	ConnectionString string `env:"WEBPUBSUB_CONNECTION_STRING"`
	// Identity reaches the resource without a key: WEBPUBSUB_ENDPOINT and an
	// Entra credential (WEBPUBSUB_CREDENTIAL, AZURE_*), instead of ConnectionString.
	auth.Identity
	// Hub the messages go to. Required.
	Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`

	// Target is "all", "user:<id>", "group:<name>" or "connection:<id>";
	// empty means DefaultScheduleTarget.
	Target string `env:"BROADCAST_SCHEDULE_TARGET"`
	// Message is a text/template rendered on each tick with ScheduleData;
	// empty means DefaultScheduleMessage.
	Message string `env:"BROADCAST_SCHEDULE_MESSAGE"`
	// ContentType is "json" (the rendered message must be valid JSON) or
	// "text"; empty means DefaultScheduleContentType.
	ContentType string `env:"BROADCAST_SCHEDULE_CONTENT_TYPE"`

	// Logger receives one line per tick; nil means slog.Default().
	Logger *slog.Logger `env:"-"`
	// HTTPClient is used for REST calls; nil means the default.
	HTTPClient *http.Client `env:"-"`
}

// ScheduleData is what BROADCAST_SCHEDULE_MESSAGE is rendered with.
type ScheduleData struct {
	Time      string // the tick time in UTC, RFC 3339 with milliseconds
	Unix      int64  // the tick time in seconds since 1970
	UnixMilli int64  // the tick time in milliseconds since 1970
	Hub       string
}

// LoadScheduleConfig reads ScheduleConfig from the environment. The error
// names the variables that are missing or malformed.
func LoadScheduleConfig() (ScheduleConfig, error) { return LoadScheduleConfigFrom(nil) }

// LoadScheduleConfigFrom is LoadScheduleConfig reading environ (KEY→value)
// instead of the process environment; nil means the process environment.
func LoadScheduleConfigFrom(environ map[string]string) (ScheduleConfig, error) {
	return fnconf.LoadChecked(environ, func(c *ScheduleConfig) error { _, err := c.compile(); return err })
}

// target is a parsed BROADCAST_SCHEDULE_TARGET.
type target struct{ kind, id string }

func parseTarget(s string) (target, bool) {
	if s == "all" {
		return target{kind: "all"}, true
	}
	k, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return target{}, false
	}
	switch k {
	case "user", "group", "connection":
		return target{kind: k, id: id}, true
	}
	return target{}, false
}

// compiledSchedule is a checked ScheduleConfig, parsed.
type compiledSchedule struct {
	cs     wps.ConnectionString
	target target
	tpl    *template.Template
}

// compile validates the configuration and parses the connection string,
// the target and the template.
func (c *ScheduleConfig) compile() (compiledSchedule, error) {
	c.setDefaults()
	cs, err := fnconf.CheckService(c.ConnectionString, c.Hub, &c.Identity)
	if err != nil {
		return compiledSchedule{}, err
	}
	tg, ok := parseTarget(c.Target)
	if !ok {
		return compiledSchedule{}, fnconf.Invalid("BROADCAST_SCHEDULE_TARGET", "must be all, user:<id>, group:<name> or connection:<id>")
	}
	if c.ContentType != "json" && c.ContentType != "text" {
		return compiledSchedule{}, fnconf.Invalid("BROADCAST_SCHEDULE_CONTENT_TYPE", "must be json or text")
	}
	tpl, err := template.New("message").Option("missingkey=error").Parse(c.Message)
	if err != nil {
		return compiledSchedule{}, fnconf.Invalid("BROADCAST_SCHEDULE_MESSAGE", "is not a valid template: "+err.Error())
	}
	// A trial rendering catches unknown fields and, for json, invalid JSON at start-up.
	if _, err := render(tpl, c.ContentType, c.Hub, time.Unix(0, 0)); err != nil {
		return compiledSchedule{}, fnconf.Invalid("BROADCAST_SCHEDULE_MESSAGE", "fails to render: "+err.Error())
	}
	return compiledSchedule{cs: cs, target: tg, tpl: tpl}, nil
}

func render(tpl *template.Template, contentType, hub string, now time.Time) ([]byte, error) {
	now = now.UTC()
	var b bytes.Buffer
	err := tpl.Execute(&b, ScheduleData{
		Time:      now.Format("2006-01-02T15:04:05.000Z07:00"),
		Unix:      now.Unix(),
		UnixMilli: now.UnixMilli(),
		Hub:       hub,
	})
	if err != nil {
		return nil, err
	}
	if contentType == "json" && !json.Valid(b.Bytes()) {
		return nil, errNotJSON
	}
	return b.Bytes(), nil
}

var errNotJSON = errors.New("renders to invalid JSON (set BROADCAST_SCHEDULE_CONTENT_TYPE=text for plain text)")

// setDefaults gives zero fields their documented defaults: the one place
// they are written.
func (c *ScheduleConfig) setDefaults() {
	if c.Target == "" {
		c.Target = DefaultScheduleTarget
	}
	if c.Message == "" {
		c.Message = DefaultScheduleMessage
	}
	if c.ContentType == "" {
		c.ContentType = DefaultScheduleContentType
	}
}
