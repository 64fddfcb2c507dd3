package fnconf

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// NewClient returns the REST client every function sends with, for hub:
// with the key of cs (from CheckService), or, when cs has no key, at
// id.Endpoint with id's Entra credential; through hc (nil: the wps
// default) and logging to log. name prefixes its error.
func NewClient(name string, cs wps.ConnectionString, id *Identity, hub string, hc *http.Client, log *slog.Logger) (*wps.Client, error) {
	return NewClientWithOptions(name, cs, id, hub, &wps.ClientOptions{HTTPClient: hc, Logger: log})
}

// NewClientWithOptions is NewClient with the client's options spelled out;
// opts.HTTPClient also carries the credential's requests.
func NewClientWithOptions(name string, cs wps.ConnectionString, id *Identity, hub string, opts *wps.ClientOptions) (*wps.Client, error) {
	var client *wps.Client
	var err error
	if cs.AccessKey != "" || id == nil || id.Endpoint == "" {
		client, err = cs.NewClient(hub, opts)
	} else {
		cred, cerr := id.NewCredential(opts.HTTPClient)
		if cerr != nil {
			return nil, fmt.Errorf("%s: %w", name, cerr)
		}
		client, err = wps.NewClient(cs.Endpoint, hub, cred, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return client, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
