package cloudevents_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// A hub handler with managed-identity auth, on a resource whose access keys
// are disabled: the service sends no ce-signature, only an Entra token.
// AnyOf keeps key-signed events working while a resource migrates.
func ExampleNewEntraAuthenticator() {
	entra, err := cloudevents.NewEntraAuthenticator(cloudevents.EntraOptions{
		TenantID:  os.Getenv("AZURE_TENANT_ID"),
		Audiences: []string{"api://my-events", os.Getenv("EVENTS_APP_CLIENT_ID")}, // the hub handler's auth-resource
		// The Web PubSub resource's managed identity (identity.principalId).
		AllowedCallers: []string{os.Getenv("WEBPUBSUB_PRINCIPAL_ID")},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := &cloudevents.Handler{
		Hub:           "chat",
		Authenticator: cloudevents.AnyOf(entra, cloudevents.NewKeys(os.Getenv("WEBPUBSUB_ACCESS_KEY"))),
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			return &cloudevents.UserEventResponse{Data: req.Data, DataType: req.DataType}, nil
		},
	}
	http.Handle("/eventhandler", h)
}
