package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// The service side: validate a handler, then send it a signed user event
// and read its reply.
func ExampleCaller() {
	keys := cloudevents.NewKeys("access-key")
	h := &cloudevents.Handler{
		Keys:           keys,
		AllowedOrigins: []string{"example.webpubsub.azure.com"},
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			return &cloudevents.UserEventResponse{Data: append([]byte("echo: "), req.Data...), DataType: cloudevents.DataText}, nil
		},
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	c := &upstream.Caller{Keys: keys, Origin: "example.webpubsub.azure.com"}
	ctx := context.Background()
	fmt.Println("validate:", c.Validate(ctx, srv.URL+"/validate"))
	ans, err := c.Send(ctx, srv.URL, &cloudevents.UserEventRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c1"},
		Data:              []byte("hi"), DataType: cloudevents.DataText,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	reply, _ := ans.UserEvent()
	fmt.Println(ans.Status, string(reply.Data))

	// Another service host fails the abuse-protection handshake.
	other := &upstream.Caller{Origin: "evil.example"}
	var ve *upstream.ValidationError
	if errors.As(other.Validate(ctx, srv.URL+"/validate"), &ve) {
		fmt.Println(ve.Reason, ve.Status)
	}
	// Output:
	// validate: <nil>
	// 200 echo: hi
	// AbuseProtectionResponseInvalidStatusCode 400
}
