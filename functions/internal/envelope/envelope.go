// Package envelope checks and sends the envelope of package
// functions/envelope (the body of the broadcast function's POST and of every
// message the relay function takes from a queue, topic or event bus).
// Parse decodes and checks one; Send sends it. Both functions use this
// package, so a body accepted by one is accepted by the other.
package envelope

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	public "github.com/wpsfn/wpsfn/functions/envelope"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Targets are the "to" values, in the order documentation lists them.
var Targets = []string{"all", "user", "group", "connection"}

// Envelope is the JSON a producer writes; the type lives in the public
// package so that broadcast.Request and relay.Envelope name a documented one.
type Envelope = public.Envelope

// Parsed is a checked envelope, ready to send.
type Parsed struct {
	Envelope
	// Message is the Web PubSub message the envelope carries.
	Message wps.Message
	// Type is "text", "json" or "binary".
	Type string
	// Bytes is the message's length as sent to the REST API.
	Bytes int
}

// Options is what a function allows; the zero value allows every target.
type Options struct {
	// Targets lists the accepted "to" values; nil means all of Targets.
	Targets []string
}

// Error is an envelope that cannot be sent: a permanent failure, never worth
// retrying. Its text says what is wrong without quoting the message.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func invalid(format string, a ...any) error { return &Error{Reason: fmt.Sprintf(format, a...)} }

// maxIDBytes bounds ids and group names, as the service does.
const maxIDBytes = 1024

// maxExcluded bounds the excluded list (each becomes a query parameter).
const maxExcluded = 100

// Parse decodes exactly one JSON object from body and checks it. Every error
// is an *Error.
func Parse(body []byte, opts Options) (Parsed, error) {
	var p Parsed
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.Envelope); err != nil {
		return Parsed{}, invalid("body is not a valid message envelope: %s", jsonReason(err))
	}
	if dec.More() {
		return Parsed{}, invalid("body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Parsed{}, invalid("body holds data after the JSON object")
	}
	if err := p.check(opts); err != nil {
		return Parsed{}, err
	}
	return p, nil
}

// FromEnvelope checks an envelope built in code (e.g. by a mapping) the way
// Parse checks a decoded one.
func FromEnvelope(e Envelope, opts Options) (Parsed, error) {
	p := Parsed{Envelope: e}
	if err := p.check(opts); err != nil {
		return Parsed{}, err
	}
	return p, nil
}

func (p *Parsed) check(opts Options) error {
	targets := opts.Targets
	if targets == nil {
		targets = Targets
	}
	switch p.To {
	case "":
		return invalid(`"to" is required: all, user, group or connection`)
	case "all", "user", "group", "connection":
	default:
		return invalid(`"to" must be all, user, group or connection, not %q`, ident.Clip(p.To))
	}
	if !slices.Contains(targets, p.To) {
		return invalid(`"to": %s is not allowed here`, p.To)
	}
	if p.To == "all" {
		if p.ID != "" {
			return invalid(`"id" must be empty when "to" is all`)
		}
	} else if p.ID == "" {
		return invalid(`"id" is required when "to" is %s`, p.To)
	} else if err := ident.Check(p.ID, maxIDBytes); err != nil {
		return invalid(`"id" %s`, err)
	}
	if p.TTL < 0 || time.Duration(p.TTL)*time.Second > wps.MaxMessageTTL {
		return invalid(`"ttl" must be from 0 to %d seconds`, int(wps.MaxMessageTTL/time.Second))
	}
	if p.Filter != "" {
		if p.To == "connection" {
			return invalid(`"filter" does not apply when "to" is connection`)
		}
		if len(p.Filter) > 4096 || !utf8.ValidString(p.Filter) || strings.ContainsAny(p.Filter, "\x00\r\n") {
			return invalid(`"filter" must be one line of UTF-8 of at most 4096 bytes`)
		}
	}
	if len(p.Excluded) > 0 {
		if p.To != "all" && p.To != "group" {
			return invalid(`"excluded" applies only when "to" is all or group`)
		}
		if len(p.Excluded) > maxExcluded {
			return invalid(`"excluded" lists more than %d connections`, maxExcluded)
		}
		for i, c := range p.Excluded {
			if err := ident.Check(c, maxIDBytes); err != nil {
				return invalid(`"excluded"[%d] %s`, i, err)
			}
		}
	}
	n := 0
	if p.Text != nil {
		n++
		if !utf8.ValidString(*p.Text) {
			return invalid(`"text" is not valid UTF-8`)
		}
		p.Message, p.Type, p.Bytes = wps.Text(*p.Text), "text", len(*p.Text)
	}
	if len(p.JSON) > 0 {
		n++
		p.Message = wps.JSON(p.JSON)
		p.Type, p.Bytes = "json", len(p.Message.Bytes())
	}
	if p.Binary != nil {
		n++
		b, err := base64.StdEncoding.DecodeString(*p.Binary)
		if err != nil {
			return invalid(`"binary" is not valid base64 (standard alphabet, padded)`)
		}
		p.Message, p.Type, p.Bytes = wps.Binary(b), "binary", len(b)
	}
	switch {
	case n == 0:
		return invalid(`one of "text", "json" or "binary" is required`)
	case n > 1:
		return invalid(`only one of "text", "json" or "binary" may be given`)
	}
	if err := p.Message.Err(); err != nil {
		return invalid(`"json" cannot be sent: %v`, err)
	}
	return nil
}

// SendOptions are the REST options the envelope asks for.
func (p Parsed) SendOptions() *wps.SendOptions {
	if p.TTL == 0 && p.Filter == "" && len(p.Excluded) == 0 {
		return nil
	}
	// The envelope's filter is OData text its producer wrote (checked above), hence RawFilter.
	return &wps.SendOptions{Excluded: p.Excluded, Filter: wps.RawFilter(p.Filter), MessageTTL: time.Duration(p.TTL) * time.Second}
}

// Sender is the part of *wps.Client that Send uses.
type Sender interface {
	SendToAll(ctx context.Context, msg wps.Message, opts *wps.SendOptions) error
	SendToUser(ctx context.Context, userID string, msg wps.Message, opts *wps.SendOptions) error
	SendToGroup(ctx context.Context, group string, msg wps.Message, opts *wps.SendOptions) error
	SendToConnection(ctx context.Context, connectionID string, msg wps.Message, opts *wps.SendOptions) error
}

// Send sends p.Message to its target.
func Send(ctx context.Context, c Sender, p Parsed) error {
	opts := p.SendOptions()
	switch p.To {
	case "user":
		return c.SendToUser(ctx, p.ID, p.Message, opts)
	case "group":
		return c.SendToGroup(ctx, p.ID, p.Message, opts)
	case "connection":
		return c.SendToConnection(ctx, p.ID, p.Message, opts)
	}
	return c.SendToAll(ctx, p.Message, opts)
}

// jsonReason describes a decoding error without quoting the input.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te) && te.Field == "":
		return "not a JSON object"
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}
