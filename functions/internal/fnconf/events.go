package fnconf

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// EventAuth is how the event functions (connect, message) authenticate the
// service's upstream requests, shared by both.
type EventAuth struct {
	// Auth is signature (ce-signature with the connection string's key and
	// WEBPUBSUB_ACCESS_KEYS; the default when there is a key), entra (the
	// Entra token the service sends when the hub's handler uses auth-type
	// ManagedIdentity; the only choice with disableLocalAuth, and required
	// without a key), signature-or-entra (either, while migrating) or none
	// (local use only: anyone who reaches the function is the service).
	Auth string `env:"WEBPUBSUB_EVENTS_AUTH"`
	// TenantID is the Entra tenant of the Web PubSub resource's identity;
	// empty means AZURE_TENANT_ID.
	TenantID string `env:"WEBPUBSUB_EVENTS_TENANT_ID"`
	// Audiences are the hub handler's auth-resource: the events app
	// registration's App ID URI and/or client id.
	Audiences []string `env:"WEBPUBSUB_EVENTS_AUDIENCES"`
	// AllowedCallers are the Web PubSub resource's managed identity: its
	// principal (object) id and/or client id.
	AllowedCallers []string `env:"WEBPUBSUB_EVENTS_CALLERS"`
	// Authority is the Entra authority host; empty means
	// https://login.microsoftonline.com/ (wpsfn dev --keyless sets the emulator's).
	Authority string `env:"WEBPUBSUB_EVENTS_AUTHORITY"`
}

// Events.Auth values.
const (
	EventsSignature        = "signature"
	EventsEntra            = "entra"
	EventsSignatureOrEntra = "signature-or-entra"
	EventsNone             = "none"
)

func (e *EventAuth) mode(keys []string) string {
	if e.Auth != "" {
		return e.Auth
	}
	if slices.ContainsFunc(keys, func(k string) bool { return k != "" }) {
		return EventsSignature
	}
	return EventsEntra
}

// Check validates e for a function with the given access keys and the
// AZURE_TENANT_ID of its Identity.
func (e *EventAuth) Check(keys []string, tenant string) error {
	hasKey := slices.ContainsFunc(keys, func(k string) bool { return k != "" })
	switch m := e.mode(keys); m {
	case EventsNone:
		return nil
	case EventsSignature:
		if !hasKey {
			return Invalid("WEBPUBSUB_EVENTS_AUTH", "is signature but there is no access key (WEBPUBSUB_CONNECTION_STRING or WEBPUBSUB_ACCESS_KEYS)")
		}
		return nil
	case EventsEntra, EventsSignatureOrEntra:
		if m == EventsSignatureOrEntra && !hasKey {
			return Invalid("WEBPUBSUB_EVENTS_AUTH", "is signature-or-entra but there is no access key")
		}
		if _, err := e.entra(tenant, nil, nil); err != nil {
			return Invalid("WEBPUBSUB_EVENTS_AUTH", "entra: "+strings.TrimPrefix(err.Error(), "cloudevents: EntraOptions: ")+
				" (set WEBPUBSUB_EVENTS_TENANT_ID or AZURE_TENANT_ID, WEBPUBSUB_EVENTS_AUDIENCES, WEBPUBSUB_EVENTS_CALLERS)")
		}
		return nil
	}
	return Invalid("WEBPUBSUB_EVENTS_AUTH", "must be signature, entra, signature-or-entra or none")
}

func (e *EventAuth) entra(tenant string, log *slog.Logger, hc *http.Client) (*cloudevents.EntraAuthenticator, error) {
	if e.TenantID != "" {
		tenant = e.TenantID
	}
	return cloudevents.NewEntraAuthenticator(cloudevents.EntraOptions{TenantID: tenant, Audiences: e.Audiences,
		AllowedCallers: e.AllowedCallers, AuthorityHost: e.Authority, HTTPClient: hc, Logger: log})
}

// Authenticator returns the handler's authenticator for keys (checked by Check).
func (e *EventAuth) Authenticator(keys []string, tenant string, log *slog.Logger, hc *http.Client) (cloudevents.Authenticator, error) {
	switch e.mode(keys) {
	case EventsNone:
		log.Warn("WEBPUBSUB_EVENTS_AUTH=none: events are not authenticated; use it for local development only")
		return cloudevents.NoAuthentication, nil
	case EventsSignature:
		return cloudevents.NewKeys(keys...), nil
	}
	a, err := e.entra(tenant, log, hc)
	if err != nil {
		return nil, err
	}
	if e.mode(keys) == EventsSignatureOrEntra {
		return cloudevents.AnyOf(cloudevents.NewKeys(keys...), a), nil
	}
	return a, nil
}
