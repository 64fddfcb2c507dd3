package fnconf

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/wpsfn/wpsfn/functions/auth"
)

// credential returns the Credential to use: the configured one or the
// platform's.
func credential(id *auth.Identity) string {
	if id.Credential != "" {
		return id.Credential
	}
	switch {
	case os.Getenv("IDENTITY_ENDPOINT") != "":
		return auth.CredManagedIdentity
	case os.Getenv("AWS_LAMBDA_RUNTIME_API") != "":
		return auth.CredAWSFederation
	case os.Getenv("K_SERVICE") != "" || os.Getenv("FUNCTION_TARGET") != "":
		return auth.CredGCPFederation
	}
	return auth.CredDefault
}

// checkIdentity validates the credential configuration (with an endpoint).
func checkIdentity(id *auth.Identity) error {
	u, err := url.Parse(id.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return Invalid("WEBPUBSUB_ENDPOINT", "must be the resource's URL, https://<name>.webpubsub.azure.com")
	}
	switch c := credential(id); c {
	case auth.CredManagedIdentity, auth.CredDefault:
	case auth.CredAWSFederation, auth.CredGCPFederation:
		if id.TenantID == "" || id.ClientID == "" {
			return Invalid("AZURE_TENANT_ID", "and AZURE_CLIENT_ID are required for WEBPUBSUB_CREDENTIAL="+c+" (the app registration with the federated credential)")
		}
	case auth.CredClientSecret:
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
func NewCredential(id *auth.Identity, hc *http.Client) (azcore.TokenCredential, error) {
	opts := azcore.ClientOptions{}
	if hc != nil {
		opts.Transport = hc
	}
	var cred azcore.TokenCredential
	var err error
	switch c := credential(id); c {
	case auth.CredManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if id.ClientID != "" {
			o.ID = azidentity.ClientID(id.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(o)
	case auth.CredClientSecret:
		cred, err = azidentity.NewClientSecretCredential(id.TenantID, id.ClientID, id.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	case auth.CredAWSFederation, auth.CredGCPFederation:
		aud := id.FederationAudience
		if aud == "" {
			aud = auth.DefaultFederationAudience
		}
		get := awsAssertion(hc, aud)
		if c == auth.CredGCPFederation {
			get = gcpAssertion(hc, aud)
		}
		cred, err = azidentity.NewClientAssertionCredential(id.TenantID, id.ClientID, get,
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts})
	case auth.CredDefault:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts})
	default:
		err = errors.New("unknown WEBPUBSUB_CREDENTIAL")
	}
	if err != nil {
		return nil, fmt.Errorf("WEBPUBSUB_CREDENTIAL %s: %w", credential(id), err)
	}
	return cred, nil
}
