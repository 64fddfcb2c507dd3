package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// ValidationError is a failed abuse-protection handshake; Reason uses the
// service's error names.
type ValidationError struct {
	URL    string // without its query, which may hold a code
	Reason string // AbuseProtectionResponseInvalidStatusCode, ...MissingAllowedOrigin, ...InvalidAllowedOrigin
	Status int
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("upstream: validating %s: %s (status %d)", e.URL, e.Reason, e.Status)
}

// maxValidationBody bounds how much of a validation answer's body is
// drained (it is not used) so that the connection can be reused.
const maxValidationBody = 64 << 10

// Validate performs the abuse-protection handshake the service runs before
// it delivers events to url (the handler URL with {event} set to "validate"):
// an OPTIONS request with WebHook-Request-Origin (Origin, or url's host name)
// and ce-awpsversion, which must be answered with a 2xx and
// WebHook-Allowed-Origin "*" or that origin. A refusal is a *ValidationError.
func (c *Caller) Validate(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, url, nil)
	if err != nil {
		return fmt.Errorf("upstream: Validate: %w", redactErr(err))
	}
	origin := c.Origin
	if origin == "" {
		origin = req.URL.Hostname()
	}
	req.Header[cloudevents.HeaderRequestOrigin] = []string{origin}
	req.Header[cloudevents.HeaderAWPSVersion] = []string{"1.0"}
	if err := c.authorize(ctx, req); err != nil {
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("upstream: validating: %w", redactErr(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxValidationBody))
	resp.Body.Close()
	fail := func(reason string) error {
		return &ValidationError{URL: redactURL(url), Reason: reason, Status: resp.StatusCode}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail("AbuseProtectionResponseInvalidStatusCode")
	}
	allowed := resp.Header.Values(cloudevents.HeaderAllowedOrigin)
	if len(allowed) == 0 {
		return fail("AbuseProtectionResponseMissingAllowedOrigin")
	}
	for _, line := range allowed {
		for o := range strings.SplitSeq(line, ",") {
			o = strings.TrimSpace(o)
			if o == "*" || strings.EqualFold(o, origin) {
				return nil
			}
		}
	}
	return fail("AbuseProtectionResponseInvalidAllowedOrigin")
}
