package fnconf

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// eventKeys are the ce-signature keys of an event function: its connection
// string's and its further access keys (WEBPUBSUB_ACCESS_KEYS).
func eventKeys(cs wps.ConnectionString, more []string) []string {
	return append([]string{cs.AccessKey}, more...)
}

func eventMode(e *auth.EventAuth, keys []string) string {
	if e.Auth != "" {
		return e.Auth
	}
	if slices.ContainsFunc(keys, func(k string) bool { return k != "" }) {
		return auth.EventsSignature
	}
	return auth.EventsEntra
}

// CheckEvents validates e for an event function with cs's key, the more
// access keys and id's AZURE_TENANT_ID.
func CheckEvents(e *auth.EventAuth, cs wps.ConnectionString, more []string, id *auth.Identity) error {
	keys := eventKeys(cs, more)
	hasKey := slices.ContainsFunc(keys, func(k string) bool { return k != "" })
	switch m := eventMode(e, keys); m {
	case auth.EventsNone:
		return nil
	case auth.EventsSignature:
		if !hasKey {
			return Invalid("WEBPUBSUB_EVENTS_AUTH", "is signature but there is no access key (WEBPUBSUB_CONNECTION_STRING or WEBPUBSUB_ACCESS_KEYS)")
		}
		return nil
	case auth.EventsEntra, auth.EventsSignatureOrEntra:
		if m == auth.EventsSignatureOrEntra && !hasKey {
			return Invalid("WEBPUBSUB_EVENTS_AUTH", "is signature-or-entra but there is no access key")
		}
		if _, err := entra(e, id, nil, nil); err != nil {
			return Invalid("WEBPUBSUB_EVENTS_AUTH", "entra: "+strings.TrimPrefix(err.Error(), "cloudevents: EntraOptions: ")+
				" (set WEBPUBSUB_EVENTS_TENANT_ID or AZURE_TENANT_ID, WEBPUBSUB_EVENTS_AUDIENCES, WEBPUBSUB_EVENTS_CALLERS)")
		}
		return nil
	}
	return Invalid("WEBPUBSUB_EVENTS_AUTH", "must be signature, entra, signature-or-entra or none")
}

func entra(e *auth.EventAuth, id *auth.Identity, log *slog.Logger, hc *http.Client) (*cloudevents.EntraAuthenticator, error) {
	tenant := id.TenantID
	if e.TenantID != "" {
		tenant = e.TenantID
	}
	return cloudevents.NewEntraAuthenticator(cloudevents.EntraOptions{TenantID: tenant, Audiences: e.Audiences,
		AllowedCallers: e.AllowedCallers, AuthorityHost: e.Authority, HTTPClient: hc, Logger: log})
}

// Authenticator returns the event handler's authenticator that e (checked
// by CheckEvents) describes; name prefixes its error.
func Authenticator(name string, e *auth.EventAuth, cs wps.ConnectionString, more []string, id *auth.Identity, log *slog.Logger, hc *http.Client) (cloudevents.Authenticator, error) {
	keys := eventKeys(cs, more)
	switch eventMode(e, keys) {
	case auth.EventsNone:
		log.Warn("WEBPUBSUB_EVENTS_AUTH=none: events are not authenticated; use it for local development only")
		return cloudevents.NoAuthentication, nil
	case auth.EventsSignature:
		return cloudevents.NewKeys(keys...), nil
	}
	a, err := entra(e, id, log, hc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if eventMode(e, keys) == auth.EventsSignatureOrEntra {
		return cloudevents.AnyOf(cloudevents.NewKeys(keys...), a), nil
	}
	return a, nil
}
