package auth

// EventAuth is how the event functions (connect, message) authenticate the
// service's upstream requests. The zero EventAuth means EventsSignature
// when the function has an access key, EventsEntra otherwise.
type EventAuth struct {
	// Auth is one of the Events… constants; empty means the default above.
	Auth string `env:"WEBPUBSUB_EVENTS_AUTH"`
	// TenantID is the Entra tenant of the Web PubSub resource's identity;
	// empty means Identity.TenantID (AZURE_TENANT_ID).
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

// EventAuth.Auth values.
const (
	// EventsSignature checks ce-signature with the connection string's key
	// and the function's further access keys.
	EventsSignature = "signature"
	// EventsEntra checks the Entra token the service sends when the hub's
	// handler uses auth-type ManagedIdentity: the only choice with
	// disableLocalAuth, and required without a key.
	EventsEntra = "entra"
	// EventsSignatureOrEntra accepts either, while migrating.
	EventsSignatureOrEntra = "signature-or-entra"
	// EventsNone authenticates nothing: anyone who reaches the function is
	// the service. For local use only.
	EventsNone = "none"
)
