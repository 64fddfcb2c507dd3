package auth_test

import (
	"fmt"

	"github.com/wpsfn/wpsfn/functions/auth"
	"github.com/wpsfn/wpsfn/functions/connect"
)

// A keyless connect function on Azure, written as code instead of
// environment variables: the REST API through the function app's managed
// identity, the service's upstream requests checked by the Entra token of
// the Web PubSub resource's identity.
func Example() {
	_, err := connect.New(connect.Config{
		Hub:      "chat",
		Identity: auth.Identity{Endpoint: "https://contoso.webpubsub.azure.com", Credential: auth.CredManagedIdentity},
		EventAuth: auth.EventAuth{
			Auth:           auth.EventsEntra,
			TenantID:       "00000000-0000-0000-0000-000000000001",
			Audiences:      []string{"api://contoso-events"},
			AllowedCallers: []string{"00000000-0000-0000-0000-000000000002"},
		},
	})
	fmt.Println(err)
	// Output: <nil>
}
