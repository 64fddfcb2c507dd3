package fnconf

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Identity is how every function reaches Web PubSub without an access key:
// the one documented configuration (docs/functions.md, "Keyless") embedded
// in each function's Config. Setting WEBPUBSUB_ENDPOINT instead of
// WEBPUBSUB_CONNECTION_STRING makes the function call the REST API with a
// Microsoft Entra credential (scope https://webpubsub.azure.com/.default;
// azidentity caches the token until shortly before it expires).
type Identity struct {
	// Endpoint is the resource's endpoint (https://<name>.webpubsub.azure.com),
	// used instead of WEBPUBSUB_CONNECTION_STRING.
	Endpoint string `env:"WEBPUBSUB_ENDPOINT"`
	// Credential chooses how the function proves itself to Entra ID; empty
	// means by platform: managed-identity on Azure (IDENTITY_ENDPOINT set),
	// aws-federation on Lambda, gcp-federation on Google Cloud (K_SERVICE
	// or FUNCTION_TARGET set), else default.
	//
	//   managed-identity  the function app's identity (AZURE_CLIENT_ID picks a user-assigned one)
	//   aws-federation    STS GetWebIdentityToken, fresh per token request, as a client assertion
	//   gcp-federation    the metadata server's ID token, as a client assertion
	//   client-secret     AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
	//   default           azidentity.DefaultAzureCredential (its AZURE_* variables)
	Credential string `env:"WEBPUBSUB_CREDENTIAL"`
	// TenantID and ClientID are the app registration federation and
	// client-secret sign in as (for managed-identity, ClientID selects a
	// user-assigned identity).
	TenantID     string `env:"AZURE_TENANT_ID"`
	ClientID     string `env:"AZURE_CLIENT_ID"`
	ClientSecret string `env:"AZURE_CLIENT_SECRET"`
	// FederationAudience is the audience of the platform token presented to
	// Entra; empty means api://AzureADTokenExchange (what a federated
	// identity credential expects by default).
	FederationAudience string `env:"WEBPUBSUB_FEDERATION_AUDIENCE"`
}

// Credentials WEBPUBSUB_CREDENTIAL names.
const (
	CredManagedIdentity = "managed-identity"
	CredAWSFederation   = "aws-federation"
	CredGCPFederation   = "gcp-federation"
	CredClientSecret    = "client-secret"
	CredDefault         = "default"
)

// DefaultFederationAudience is the audience Entra expects of a federated token.
const DefaultFederationAudience = "api://AzureADTokenExchange"

// credential returns the Credential to use: the configured one or the
// platform's.
func (id *Identity) credential() string {
	if id.Credential != "" {
		return id.Credential
	}
	switch {
	case os.Getenv("IDENTITY_ENDPOINT") != "":
		return CredManagedIdentity
	case os.Getenv("AWS_LAMBDA_RUNTIME_API") != "":
		return CredAWSFederation
	case os.Getenv("K_SERVICE") != "" || os.Getenv("FUNCTION_TARGET") != "":
		return CredGCPFederation
	}
	return CredDefault
}

// check validates the credential configuration (with an endpoint).
func (id *Identity) check() error {
	u, err := url.Parse(id.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return Invalid("WEBPUBSUB_ENDPOINT", "must be the resource's URL, https://<name>.webpubsub.azure.com")
	}
	switch c := id.credential(); c {
	case CredManagedIdentity, CredDefault:
	case CredAWSFederation, CredGCPFederation:
		if id.TenantID == "" || id.ClientID == "" {
			return Invalid("AZURE_TENANT_ID", "and AZURE_CLIENT_ID are required for WEBPUBSUB_CREDENTIAL="+c+" (the app registration with the federated credential)")
		}
	case CredClientSecret:
		if id.TenantID == "" || id.ClientID == "" || id.ClientSecret == "" {
			return Invalid("AZURE_TENANT_ID", "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are required for WEBPUBSUB_CREDENTIAL=client-secret")
		}
	default:
		return Invalid("WEBPUBSUB_CREDENTIAL", "must be managed-identity, aws-federation, gcp-federation, client-secret or default")
	}
	return nil
}

// NewCredential builds the Entra credential id describes; hc (nil: the
// default) carries its requests.
func (id *Identity) NewCredential(hc *http.Client) (azcore.TokenCredential, error) {
	opts := azcore.ClientOptions{}
	if hc != nil {
		opts.Transport = hc
	}
	var cred azcore.TokenCredential
	var err error
	switch c := id.credential(); c {
	case CredManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if id.ClientID != "" {
			o.ID = azidentity.ClientID(id.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(o)
	case CredClientSecret:
		cred, err = azidentity.NewClientSecretCredential(id.TenantID, id.ClientID, id.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	case CredAWSFederation, CredGCPFederation:
		aud := id.FederationAudience
		if aud == "" {
			aud = DefaultFederationAudience
		}
		get := awsAssertion(hc, aud)
		if c == CredGCPFederation {
			get = gcpAssertion(hc, aud)
		}
		cred, err = azidentity.NewClientAssertionCredential(id.TenantID, id.ClientID, get,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts})
	case CredDefault:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts})
	default:
		err = errors.New("unknown WEBPUBSUB_CREDENTIAL")
	}
	if err != nil {
		return nil, fmt.Errorf("WEBPUBSUB_CREDENTIAL %s: %w", id.credential(), err)
	}
	return cred, nil
}
