package fnconf

import (
	"fmt"
	"log/slog"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Service is what every function's New builds first.
type Service struct {
	// Conn is the parsed connection string (only its Endpoint when keyless).
	Conn wps.ConnectionString
	// Client is the REST client for the function's hub.
	Client *wps.Client
	// Log is the function's logger.
	Log *slog.Logger
}

// Start is the opening every function's New shares: check runs the
// Config's validation (which also gives it its defaults) and returns the
// parsed connection string; then the logger (opts.Logger, nil meaning
// slog.Default() at each use) and the REST client for hub are built — with
// the connection string's key or, when it has none, at id.Endpoint with
// id's Entra credential. opts.HTTPClient also carries the credential's
// requests. name prefixes an error from the client or credential.
func Start(name string, check func() (wps.ConnectionString, error), id *auth.Identity, hub string, opts wps.ClientOptions) (*Service, error) {
	cs, err := check()
	if err != nil {
		return nil, err
	}
	opts.Logger = Logger(opts.Logger)
	var client *wps.Client
	if cs.AccessKey != "" || id == nil || id.Endpoint == "" {
		client, err = cs.NewClient(hub, &opts)
	} else {
		cred, cerr := NewCredential(id, opts.HTTPClient)
		if cerr != nil {
			return nil, fmt.Errorf("%s: %w", name, cerr)
		}
		client, err = wps.NewClient(cs.Endpoint, hub, cred, &opts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Service{Conn: cs, Client: client, Log: opts.Logger}, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
