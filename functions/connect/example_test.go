package connect_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

const accessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="

// Point the hub's event handler (system events connect, connected,
// disconnected; group presence events) at this function. Here
// pkg/cloudevents' service side plays Web PubSub, and a small server prints
// the REST calls the function makes.
func Example() {
	rest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("service got %s %s %s\n", r.Method, r.URL.EscapedPath(), b)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rest.Close()

	h, err := connect.New(connect.Config{
		ConnectionString: "Endpoint=" + rest.URL + ";AccessKey=" + accessKey + ";Version=1.0;",
		Hub:              "chat",
		AllowedGroups:    []string{"lobby"},
		MaxGroups:        5,
		Roles:            []string{"webpubsub.joinLeaveGroup"},
		Subprotocols:     []string{"json.reliable.webpubsub.azure.v1"},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	fn := httptest.NewServer(h)
	defer fn.Close()
	ctx := context.Background()
	service := &upstream.Caller{Keys: cloudevents.NewKeys(accessKey)} // what Web PubSub does
	conn := cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "conn-1", UserID: "alice"}

	// wss://…/client/hubs/chat?access_token=…&group=lobby
	ans, _ := service.Send(ctx, fn.URL, &cloudevents.ConnectRequest{
		ConnectionContext: conn,
		Claims:            map[string][]string{"sub": {"alice"}},
		Query:             map[string][]string{"group": {"lobby"}},
		Subprotocols:      []string{"json.reliable.webpubsub.azure.v1"},
	})
	res, _ := ans.Connect()
	fmt.Printf("connect: user %s, groups %v, roles %v\n", res.UserID, res.Groups, res.Roles)
	conn.RawState = ans.NextState("") // the service keeps the state and sends it back

	service.Send(ctx, fn.URL, &cloudevents.ConnectedRequest{ConnectionContext: conn})
	service.Send(ctx, fn.URL, &cloudevents.DisconnectedRequest{ConnectionContext: conn})

	ans, _ = service.Send(ctx, fn.URL, &cloudevents.ConnectRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "conn-2", UserID: "bob"},
		Claims:            map[string][]string{"sub": {"bob"}},
		Query:             map[string][]string{"group": {"admins"}},
	})
	fmt.Println("refused:", ans.Status, string(ans.Body))
	// Output:
	// connect: user alice, groups [lobby], roles [webpubsub.joinLeaveGroup]
	// service got POST /api/hubs/chat/connections/conn-1/:send {"type":"system","text":"welcome alice"}
	// service got POST /api/hubs/chat/groups/lobby/:send {"type":"system","event":"left","user":"alice"}
	// refused: 403 group "admins" may not be joined
}
