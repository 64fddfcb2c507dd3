package auth

// Identity is how a function reaches Web PubSub without an access key
// (docs/functions.md, "Keyless"), embedded in each function's Config.
// Setting Endpoint instead of the Config's ConnectionString makes the
// function call the REST API with a Microsoft Entra credential (scope
// https://webpubsub.azure.com/.default; azidentity caches the token until
// shortly before it expires). The zero Identity means the connection
// string's key.
type Identity struct {
	// Endpoint is the resource's endpoint (https://<name>.webpubsub.azure.com),
	// used instead of WEBPUBSUB_CONNECTION_STRING.
	Endpoint string `env:"WEBPUBSUB_ENDPOINT"`
	// Credential chooses how the function proves itself to Entra ID (one of
	// the Cred… constants); empty means by platform: CredManagedIdentity on
	// Azure (IDENTITY_ENDPOINT set), CredAWSFederation on Lambda,
	// CredGCPFederation on Google Cloud (K_SERVICE or FUNCTION_TARGET set),
	// else CredDefault.
	Credential string `env:"WEBPUBSUB_CREDENTIAL"`
	// TenantID and ClientID are the app registration federation and
	// client-secret sign in as (for managed-identity, ClientID selects a
	// user-assigned identity).
	TenantID     string `env:"AZURE_TENANT_ID"`
	ClientID     string `env:"AZURE_CLIENT_ID"`
	ClientSecret string `env:"AZURE_CLIENT_SECRET"`
	// FederationAudience is the audience of the platform token presented to
	// Entra; empty means DefaultFederationAudience.
	FederationAudience string `env:"WEBPUBSUB_FEDERATION_AUDIENCE"`
}

// Identity.Credential values.
const (
	// CredManagedIdentity is the function app's managed identity
	// (ClientID picks a user-assigned one).
	CredManagedIdentity = "managed-identity"
	// CredAWSFederation presents an STS GetWebIdentityToken JWT, fresh per
	// token request, as a client assertion (TenantID, ClientID).
	CredAWSFederation = "aws-federation"
	// CredGCPFederation presents the metadata server's ID token as a client
	// assertion (TenantID, ClientID).
	CredGCPFederation = "gcp-federation"
	// CredClientSecret signs in with TenantID, ClientID and ClientSecret.
	CredClientSecret = "client-secret"
	// CredDefault is azidentity.DefaultAzureCredential (its AZURE_* variables).
	CredDefault = "default"
)

// DefaultFederationAudience is the audience Entra expects of a federated
// token (what a federated identity credential expects by default).
const DefaultFederationAudience = "api://AzureADTokenExchange"
