// Package fnconf loads the functions' environment configuration with
// github.com/caarlos0/env/v11 and turns its errors into one line that names
// the environment variable at fault (env itself names the Go field for parse
// errors), without ever echoing a value.
package fnconf

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/caarlos0/env/v11"
	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Load fills cfg (a pointer to a struct with `env` tags) from environ, or
// from the process environment when environ is nil.
func Load(cfg any, environ map[string]string) error {
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	err := env.ParseWithOptions(cfg, opts)
	if err == nil {
		return nil
	}
	keys := tagKeys(cfg)
	var msgs []string
	var agg env.AggregateError
	if errors.As(err, &agg) {
		for _, e := range agg.Errors {
			msgs = append(msgs, describe(e, keys))
		}
	} else {
		msgs = append(msgs, describe(err, keys))
	}
	return &Error{Msg: strings.Join(msgs, "; "), Err: err}
}

// LoadChecked is the body of every function's LoadConfigFrom: it fills a T
// from environ (see Load) and then checks it with check. A T that fails
// check is returned along with the error; one that fails to load is not.
func LoadChecked[T any](environ map[string]string, check func(*T) error) (T, error) {
	var c T
	if err := Load(&c, environ); err != nil {
		var zero T
		return zero, err
	}
	return c, check(&c)
}

// Error is a configuration error; its text names the variables at fault.
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return "config: " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Invalid returns the error for a variable whose value is not acceptable.
// why must not contain the value when the value may be secret.
func Invalid(key, why string) error {
	return &Error{Msg: key + " " + why}
}

func describe(err error, keys map[string]string) string {
	var notSet env.VarIsNotSetError
	var empty env.EmptyVarError
	var parse env.ParseError
	var file env.LoadFileContentError
	switch {
	case errors.As(err, &notSet):
		return notSet.Key + " is required but not set"
	case errors.As(err, &empty):
		return empty.Key + " is required but empty"
	case errors.As(err, &parse):
		key := keys[parse.Name]
		if key == "" {
			key = parse.Name
		}
		return fmt.Sprintf("%s: not a valid %s", key, typeName(parse.Type))
	case errors.As(err, &file):
		return file.Key + ": cannot read the file it names"
	}
	return err.Error()
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[bool]():
		return "boolean (true or false)"
	case t.String() == "time.Duration":
		return "duration (e.g. 30s, 5m)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "whole number"
	case t.Kind() == reflect.Slice:
		return "comma-separated list of " + typeName(t.Elem()) + "s"
	}
	return t.String()
}

// tagKeys maps the struct's field names to their environment variable names.
func tagKeys(cfg any) map[string]string {
	m := map[string]string{}
	t := reflect.TypeOf(cfg)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return m
	}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if key != "" && key != "-" {
			m[f.Name] = key
		}
	}
	return m
}

// CheckService validates the variables every function shares:
// WEBPUBSUB_CONNECTION_STRING, or instead WEBPUBSUB_ENDPOINT with an Entra
// credential (id, see auth.Identity; nil allows only the connection string), and
// WEBPUBSUB_HUB. It returns the parsed connection string (with only the
// Endpoint for a keyless configuration), so that it need not be parsed again.
func CheckService(connStr, hub string, id *auth.Identity) (wps.ConnectionString, error) {
	var cs wps.ConnectionString
	switch {
	case connStr != "" && id != nil && id.Endpoint != "":
		return cs, Invalid("WEBPUBSUB_ENDPOINT", "and WEBPUBSUB_CONNECTION_STRING are both set: set one (the endpoint authenticates with Entra ID, the connection string with its key)")
	case connStr == "" && (id == nil || id.Endpoint == ""):
		return cs, Invalid("WEBPUBSUB_CONNECTION_STRING", "is required (or WEBPUBSUB_ENDPOINT, to authenticate with Entra ID)")
	case connStr == "":
		if err := checkIdentity(id); err != nil {
			return cs, err
		}
		cs.Endpoint = trimSlash(id.Endpoint)
	default:
		var err error
		cs, err = wps.ParseConnectionString(connStr)
		if err != nil {
			// wps errors never contain the key.
			return wps.ConnectionString{}, &Error{Msg: "WEBPUBSUB_CONNECTION_STRING: " + strings.TrimPrefix(err.Error(), "wps: connection string: "), Err: err}
		}
	}
	if hub == "" {
		return wps.ConnectionString{}, Invalid("WEBPUBSUB_HUB", "is required")
	}
	if !wps.ValidHub(hub) {
		return wps.ConnectionString{}, Invalid("WEBPUBSUB_HUB", "must start with a letter and hold at most 128 letters, digits or _`,.[]")
	}
	return cs, nil
}

// Renamed refuses an environment that sets a variable of an earlier version:
// renamed maps each old name to what to set instead. environ nil means the
// process environment.
func Renamed(environ map[string]string, renamed map[string]string) error {
	var msgs []string
	for _, old := range slices.Sorted(maps.Keys(renamed)) {
		var set bool
		if environ == nil {
			_, set = os.LookupEnv(old)
		} else {
			_, set = environ[old]
		}
		if set {
			msgs = append(msgs, old+" is no longer read: set "+renamed[old])
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &Error{Msg: strings.Join(msgs, "; ")}
}
