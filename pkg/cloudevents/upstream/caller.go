package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// DefaultMaxAnswerBytes bounds a handler's answer when
// Caller.MaxAnswerBytes is zero: 1 MiB, the service's frame limit.
const DefaultMaxAnswerBytes = 1 << 20

// A Caller calls an event handler as the service does. Its fields must not
// change while it is in use, except the keys inside Keys, which rotate; it
// is safe for concurrent use. A Caller is a small value: copy it to vary a
// field per handler (say, a Token for each handler's auth resource).
type Caller struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client

	// Keys sign every event with ce-signature (one sha256= entry per key).
	// Nil or empty sends no signature, as the service does when its access
	// keys are disabled.
	Keys *cloudevents.Keys

	// Token, when set, supplies the bearer token sent as "Authorization:
	// Bearer <token>" on every request (events and validation), as the service
	// does for a hub handler with managed-identity auth (the token's audience
	// is the handler's auth resource). It is called for every request, so it
	// should cache (azcore credentials do); an error fails the call before
	// anything is sent. The token never appears in errors.
	Token func(ctx context.Context) (string, error)

	// Origin is the service host sent as WebHook-Request-Origin. Empty means
	// the event's ConnectionContext.Origin, or else the URL's host name.
	Origin string

	// MaxAnswerBytes bounds how much of an answer is read; a longer answer is
	// an error, as the service refuses it. Zero means DefaultMaxAnswerBytes;
	// negative is refused with an error by every call.
	MaxAnswerBytes int64
}

// ErrNegativeMaxAnswerBytes is returned by every call of a Caller whose
// MaxAnswerBytes is negative.
var ErrNegativeMaxAnswerBytes = errors.New("upstream: Caller.MaxAnswerBytes is negative")

// NewRequest builds the CloudEvents (binary mode) POST the service sends for
// ev to the handler at url: the ce-* headers and body (see
// cloudevents.EncodeEvent), WebHook-Request-Origin, ce-signature from Keys
// and the bearer token from Token.
func (c *Caller) NewRequest(ctx context.Context, url string, ev cloudevents.Event) (*http.Request, error) {
	h := make(http.Header, 20)
	body, err := cloudevents.EncodeEvent(h, ev)
	if err != nil {
		return nil, fmt.Errorf("upstream: NewRequest: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("upstream: NewRequest: %w", redactErr(err))
	}
	req.Header = h
	if c.Origin != "" {
		req.Header[cloudevents.HeaderRequestOrigin] = []string{c.Origin}
	} else if len(req.Header[cloudevents.HeaderRequestOrigin]) == 0 {
		req.Header[cloudevents.HeaderRequestOrigin] = []string{req.URL.Hostname()}
	}
	if sig := c.Keys.Sign(h[cloudevents.HeaderConnectionID][0]); sig != "" {
		req.Header[cloudevents.HeaderSignature] = []string{sig}
	}
	if err := c.authorize(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}

// authorize sets the bearer token from Token, if any.
func (c *Caller) authorize(ctx context.Context, req *http.Request) error {
	if c.Token == nil {
		return nil
	}
	tok, err := c.Token(ctx)
	if err != nil {
		return fmt.Errorf("upstream: getting the bearer token: %w", err)
	}
	req.Header["Authorization"] = []string{"Bearer " + tok}
	return nil
}

// Send builds the request for ev (see NewRequest), posts it and reads the
// answer (see ReadAnswer). A non-2xx answer is not an error here; see
// cloudevents.Answer.Err.
func (c *Caller) Send(ctx context.Context, url string, ev cloudevents.Event) (*cloudevents.Answer, error) {
	if c.MaxAnswerBytes < 0 {
		return nil, ErrNegativeMaxAnswerBytes
	}
	req, err := c.NewRequest(ctx, url, ev)
	if err != nil {
		return nil, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream: %s to event handler: %w", req.Header.Get(cloudevents.HeaderType), redactErr(err))
	}
	return c.ReadAnswer(resp)
}

// ReadAnswer reads and closes resp's body, at most MaxAnswerBytes: a longer
// answer is an error, as the service would refuse it.
func (c *Caller) ReadAnswer(resp *http.Response) (*cloudevents.Answer, error) {
	defer resp.Body.Close()
	limit := c.MaxAnswerBytes
	switch {
	case limit < 0:
		return nil, ErrNegativeMaxAnswerBytes
	case limit == 0:
		limit = DefaultMaxAnswerBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("upstream: reading the handler's answer: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("upstream: the handler's answer is larger than %d bytes", limit)
	}
	return &cloudevents.Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func (c *Caller) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return http.DefaultClient
}
