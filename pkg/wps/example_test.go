package wps_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// exampleService starts a stand-in for the Web PubSub service that prints
// each request it gets, and returns its connection string. Real code reads
// the connection string from configuration instead, e.g.
// os.Getenv("WEBPUBSUB_CONNECTION_STRING").
func exampleService() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		line := r.Method + " " + r.RequestURI
		if ct := r.Header.Get("Content-Type"); ct != "" {
			line += " " + ct + " " + string(body)
		}
		fmt.Println("service got:", line)
		switch {
		case r.URL.Path == "/api/hubs/chat/groups/lobby/connections":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"value":[{"connectionId":"c1","userId":"alice"},{"connectionId":"c2"}]}`)
		case r.URL.Path == "/api/hubs/chat/users/nobody":
			w.WriteHeader(http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/connections/gone"):
			w.Header().Set("x-ms-error-code", "Info.Connection.NotExisted")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":"Info.Connection.NotExisted","message":"Connection gone is not found."}`)
		case strings.HasSuffix(r.URL.Path, "/:send"):
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	return "Endpoint=" + srv.URL + ";AccessKey=example-key-not-a-secret;Version=1.0;"
}

func Example() {
	connStr := exampleService() // e.g. os.Getenv("WEBPUBSUB_CONNECTION_STRING")
	client, err := wps.NewClientFromConnectionString(connStr, "chat", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	err = client.SendToAll(ctx, wps.JSON(map[string]string{"text": "hello, everyone"}), nil)
	fmt.Println("error:", err)
	// Output:
	// service got: POST /api/hubs/chat/:send?api-version=2024-12-01 application/json {"text":"hello, everyone"}
	// error: <nil>
}

func ExampleClient_SendToGroup() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	err := client.SendToGroup(context.Background(), "room 1", wps.Text("hi room"), &wps.SendOptions{
		Excluded:   []string{"conn-of-sender"},
		Filter:     wps.Not(wps.FilterUserIs("o'brien")),
		MessageTTL: 30 * time.Second,
	})
	fmt.Println("error:", err)
	// Output:
	// service got: POST /api/hubs/chat/groups/room%201/:send?api-version=2024-12-01&excluded=conn-of-sender&filter=not%20(userId%20eq%20%27o%27%27brien%27)&messageTtlSeconds=30 text/plain hi room
	// error: <nil>
}

func ExampleClient_SendToUser() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	err := client.SendToUser(context.Background(), "alice", wps.Text("hello alice"), nil)
	fmt.Println("error:", err)
	// Output:
	// service got: POST /api/hubs/chat/users/alice/:send?api-version=2024-12-01 text/plain hello alice
	// error: <nil>
}

func ExampleClient_ClientAccessURL() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	access, err := client.ClientAccessURL(context.Background(), &wps.ClientAccessOptions{
		UserID: "alice",
		Roles:  []string{wps.RoleJoinLeaveGroup("lobby"), wps.RoleSendToGroup("lobby")},
		Groups: []string{"lobby"},
		Expiry: 30 * time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Hand access.URL to the WebSocket client. Its token carries the claims:
	claims := &wps.ClientClaims{}
	_, _, _ = jwt.NewParser().ParseUnverified(access.Token, claims)
	fmt.Println(strings.HasPrefix(access.URL, access.BaseURL+"?access_token="), strings.HasPrefix(access.BaseURL, "ws://"))
	fmt.Println(claims.Subject, claims.Roles, claims.Groups, claims.ExpiresAt.Sub(claims.IssuedAt.Time))
	// Output:
	// true true
	// alice [webpubsub.joinLeaveGroup.lobby webpubsub.sendToGroup.lobby] [lobby] 30m0s
}

func ExampleClient_ListConnectionsInGroup() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	for member, err := range client.ListConnectionsInGroup(context.Background(), "lobby", nil) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s %q\n", member.ConnectionID, member.UserID)
	}
	// Output:
	// service got: GET /api/hubs/chat/groups/lobby/connections?api-version=2024-12-01
	// c1 "alice"
	// c2 ""
}

func ExampleClient_AddConnectionsToGroups() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	err := client.AddConnectionsToGroups(context.Background(), []string{"vip"},
		wps.And(wps.FilterUserIn("alice", "bob"), wps.Not(wps.InGroup("banned"))))
	fmt.Println("error:", err)
	// Output:
	// service got: POST /api/hubs/chat/:addToGroups?api-version=2024-12-01 application/json {"groups":["vip"],"filter":"(userId in ('alice','bob')) and (not ('banned' in groups))"}
	// error: <nil>
}

func ExampleClient_UserExists() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	online, err := client.UserExists(context.Background(), "nobody")
	fmt.Println(online, err)
	// Output:
	// service got: HEAD /api/hubs/chat/users/nobody?api-version=2024-12-01
	// false <nil>
}

func ExampleResponseError() {
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	err := client.GrantPermission(context.Background(), "gone", wps.PermissionSendToGroup, &wps.PermissionOptions{TargetName: "lobby"})
	var re *wps.ResponseError
	if errors.As(err, &re) {
		fmt.Println(re.StatusCode, re.Code)
	}
	fmt.Println(err)
	// Output:
	// service got: PUT /api/hubs/chat/permissions/sendToGroup/connections/gone?api-version=2024-12-01&targetName=lobby
	// 404 Info.Connection.NotExisted
	// wps: GrantPermission: 404 Not Found: Info.Connection.NotExisted: Connection gone is not found.
}

func ExampleParseConnectionString() {
	cs, err := wps.ParseConnectionString("Endpoint=https://example.webpubsub.azure.com;Port=8443;AccessKey=<key>;Version=1.0;")
	fmt.Println(cs.Endpoint, err)
	_, err = wps.ParseConnectionString("Endpoint=https://example.webpubsub.azure.com;Version=1.0;")
	fmt.Println(err)
	// Output:
	// https://example.webpubsub.azure.com:8443 <nil>
	// wps: connection string: AccessKey is missing
}

// A program that checks its configuration itself parses the connection
// string once and makes the client from the result.
func ExampleConnectionString_NewClient() {
	cs, err := wps.ParseConnectionString("Endpoint=https://example.webpubsub.azure.com;AccessKey=<key>;ClientEndpoint=https://chat.example;Version=1.0;")
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := cs.NewClient("chat", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ca, _ := client.ClientAccessURL(context.Background(), nil)
	fmt.Println(client.Endpoint(), ca.BaseURL)
	// Output:
	// https://example.webpubsub.azure.com wss://chat.example/client/hubs/chat
}

func ExampleFilterUserIs() {
	// Values are quoted, so an id cannot inject filter syntax.
	fmt.Println(wps.FilterUserIs("o'brien"))
	fmt.Println(wps.Or(wps.FilterUserIs("alice"), wps.InGroup("admins")))
	// Output:
	// userId eq 'o''brien'
	// (userId eq 'alice') or ('admins' in groups)
}

// entraCredential stands in for an adapter around azidentity's credentials.
type entraCredential struct{}

func (entraCredential) GetToken(ctx context.Context, scopes []string) (wps.AccessToken, error) {
	// e.g. tok, err := azCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
	return wps.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func ExampleNewClient() {
	client, err := wps.NewClient("https://example.webpubsub.azure.com", entraCredential{}, "chat", &wps.ClientOptions{
		Retry: wps.RetryOptions{MaxRetries: 5, Delay: 200 * time.Millisecond},
	})
	fmt.Println(client.Endpoint(), client.Hub(), err)
	// Output:
	// https://example.webpubsub.azure.com chat <nil>
}
