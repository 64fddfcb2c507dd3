package fnconf

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// NewClient returns the REST client every function sends with: for hub, at
// the endpoint and with the key of cs (from CheckService), through hc (nil:
// the wps default) and logging to log. name prefixes its error.
func NewClient(name string, cs wps.ConnectionString, hub string, hc *http.Client, log *slog.Logger) (*wps.Client, error) {
	client, err := cs.NewClient(hub, &wps.ClientOptions{HTTPClient: hc, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return client, nil
}
