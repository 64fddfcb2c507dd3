package cloudevents_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// A complete event handler: it names users from the connect query, counts
// each connection's messages in the connection state and echoes them.
func ExampleNewHandler() {
	cs, err := wps.ParseConnectionString("Endpoint=https://example.webpubsub.azure.com;AccessKey=secret;Version=1.0;")
	if err != nil {
		log.Fatal(err)
	}
	h, err := cloudevents.NewHandler(cloudevents.Options{
		Hub:              "chat",
		ConnectionString: cs, // its AccessKey verifies every event's signature
		Connect: func(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
			name := req.Query["name"]
			if len(name) == 0 {
				return nil, cloudevents.Errorf(401, "tell me your name")
			}
			return &cloudevents.ConnectResponse{UserID: name[0], Groups: []string{"lobby"}}, nil
		},
		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
			var n int
			if _, err := req.State().Get("count", &n); err != nil {
				return nil, err
			}
			resp := &cloudevents.UserEventResponse{Data: fmt.Appendf(nil, "#%d %s", n+1, req.Data), DataType: cloudevents.DataText}
			return resp, resp.SetState("count", n+1)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h) // in production: http.Handle("/eventhandler", h), or a FaaS adapter
	defer srv.Close()

	// What the service does: a connect, then two messages carrying the state.
	ctx := context.Background()
	conn := cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c1"}
	ans, _ := cloudevents.Send(ctx, nil, srv.URL, &cloudevents.ConnectRequest{ConnectionContext: conn, Query: map[string][]string{"name": {"ada"}}}, cs.AccessKey)
	cr, _ := ans.Connect()
	fmt.Println("user:", cr.UserID, "groups:", cr.Groups)
	conn.UserID = cr.UserID
	for _, msg := range []string{"hello", "again"} {
		ans, _ = cloudevents.Send(ctx, nil, srv.URL, &cloudevents.UserEventRequest{ConnectionContext: conn, Data: []byte(msg), DataType: cloudevents.DataText}, cs.AccessKey)
		reply, _ := ans.UserEvent()
		fmt.Println("reply:", string(reply.Data))
		conn.RawState = ans.NextState(conn.RawState)
	}
	// A forged request never reaches a callback.
	ans, _ = cloudevents.Send(ctx, nil, srv.URL, &cloudevents.UserEventRequest{ConnectionContext: conn, Data: []byte("x")}, "not-the-key")
	fmt.Println(ans.Status, ans.Err())
	// Output:
	// user: ada groups: [lobby]
	// reply: #1 hello
	// reply: #2 again
	// 401 cloudevents: 401: ce-signature does not match any access key
}

// The service side's abuse-protection handshake against a handler.
func ExampleValidate() {
	h, _ := cloudevents.NewHandler(cloudevents.Options{AccessKeys: []string{"k"}, AllowedOrigins: []string{"example.webpubsub.azure.com"}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	fmt.Println(cloudevents.Validate(context.Background(), nil, srv.URL+"/validate", "example.webpubsub.azure.com"))
	err := cloudevents.Validate(context.Background(), nil, srv.URL+"/validate", "evil.example")
	var ve *cloudevents.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Reason, ve.Status)
	}
	// Output:
	// <nil>
	// AbuseProtectionResponseInvalidStatusCode 400
}

// Signing as the service does: one sha256= entry per access key.
func ExampleSign() {
	fmt.Println(cloudevents.Sign("0f9c97a2f0bf4706afe87a14e0797b11", "7aab239577fd4f24bc919802fb629f5f"))
	// Output: sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561
}
