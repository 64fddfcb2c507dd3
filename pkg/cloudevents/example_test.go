package cloudevents_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// A complete event handler: it names users from the connect query, counts
// each connection's messages in the connection state and echoes them.
func ExampleHandler() {
	keys := cloudevents.NewKeys("primary-key", "secondary-key") // the resource's access keys
	h := &cloudevents.Handler{
		Hub:  "chat",
		Keys: keys, // every event's ce-signature is checked against them
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
	}
	srv := httptest.NewServer(h) // in production: http.Handle("/eventhandler", h), or a FaaS adapter
	defer srv.Close()

	// What the service does: a connect, then two messages carrying the state.
	ctx := context.Background()
	service := &upstream.Caller{Keys: keys}
	conn := cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c1"}
	ans, _ := service.Send(ctx, srv.URL, &cloudevents.ConnectRequest{ConnectionContext: conn, Query: map[string][]string{"name": {"ada"}}})
	cr, _ := ans.Connect()
	fmt.Println("user:", cr.UserID, "groups:", cr.Groups)
	conn.UserID = cr.UserID
	for _, msg := range []string{"hello", "again"} {
		ans, _ = service.Send(ctx, srv.URL, &cloudevents.UserEventRequest{ConnectionContext: conn, Data: []byte(msg), DataType: cloudevents.DataText})
		reply, _ := ans.UserEvent()
		fmt.Println("reply:", string(reply.Data))
		conn.RawState = ans.NextState(conn.RawState)
	}
	// A forged request never reaches a callback.
	forger := &upstream.Caller{Keys: cloudevents.NewKeys("not-the-key")}
	ans, _ = forger.Send(ctx, srv.URL, &cloudevents.UserEventRequest{ConnectionContext: conn, Data: []byte("x")})
	fmt.Println(ans.Status, ans.Err())
	// Output:
	// user: ada groups: [lobby]
	// reply: #1 hello
	// reply: #2 again
	// 401 cloudevents: 401: ce-signature does not match any access key
}

// Rotating the access keys while serving, as the service's key regeneration
// asks: the new key is accepted as soon as Set returns, and a removed key is
// refused from then on.
func ExampleKeys_Set() {
	keys := cloudevents.NewKeys("key-1")
	h := &cloudevents.Handler{Hub: "chat", Keys: keys}
	srv := httptest.NewServer(h)
	defer srv.Close()

	ev := &cloudevents.ConnectedRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c1"}}
	signedWith := func(key string) int {
		ans, err := (&upstream.Caller{Keys: cloudevents.NewKeys(key)}).Send(context.Background(), srv.URL, ev)
		if err != nil {
			return 0
		}
		return ans.Status
	}
	fmt.Println("key-1:", signedWith("key-1"), "key-2:", signedWith("key-2"))
	keys.Set("key-1", "key-2") // the new key is added as secondary
	fmt.Println("key-1:", signedWith("key-1"), "key-2:", signedWith("key-2"))
	keys.Set("key-2") // the old one is regenerated away
	fmt.Println("key-1:", signedWith("key-1"), "key-2:", signedWith("key-2"))
	// Output:
	// key-1: 200 key-2: 401
	// key-1: 200 key-2: 200
	// key-1: 401 key-2: 200
}

// The zero Handler fails closed: with no keys and no authenticator every
// event is refused, with a reason saying what to set.
func ExampleHandler_Validate() {
	h := &cloudevents.Handler{}
	fmt.Println(h.Validate())
	// Output:
	// event handler has no authentication configured: set Handler.Keys (ce-signature) or Handler.Authenticator (cloudevents.NoAuthentication for local use only)
}

// Signing as the service does: one sha256= entry per access key.
func ExampleSign() {
	fmt.Println(cloudevents.Sign("0f9c97a2f0bf4706afe87a14e0797b11", "7aab239577fd4f24bc919802fb629f5f"))
	// Output: sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561
}
