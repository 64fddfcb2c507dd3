package upstream

import (
	"errors"
	"net/url"
)

// redactURL drops the query (simple auth puts a code there) and any user
// information from u, for errors.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	if p.RawQuery != "" {
		p.RawQuery = "REDACTED"
	}
	p.User = nil
	return p.String()
}

// redactErr hides the query of the URL inside a *url.Error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = redactURL(ue.URL)
		return &c
	}
	return err
}
