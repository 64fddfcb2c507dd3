package wps_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// exampleService starts a stand-in for the Web PubSub service that prints
// each request it gets, and returns its connection string. Real code reads
// the connection string from configuration instead, e.g.
// os.Getenv("WEBPUBSUB_CONNECTION_STRING").
func exampleService() string {
	return "Endpoint=" + exampleEndpoint() + ";AccessKey=example-key-not-a-secret;Version=1.0;"
}

// exampleEndpoint starts the stand-in and returns its endpoint. A bearer
// token that is not a key-signed JWT is printed with the request.
func exampleEndpoint() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		line := r.Method + " " + r.RequestURI
		if ct := r.Header.Get("Content-Type"); ct != "" {
			line += " " + ct + " " + string(body)
		}
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "Bearer eyJ") {
			line += " (" + auth + ")"
		}
		fmt.Println("service got:", line)
		switch {
		case strings.HasSuffix(r.URL.Path, "/:generateToken"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token":"service-issued-token"}`)
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
	return srv.URL
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
		wps.And(wps.FilterUserIn("alice", "bob"), wps.Not(wps.FilterInGroup("banned"))))
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
		u, _ := url.Parse(re.URL)
		fmt.Println(re.Operation, re.Method, u.RequestURI())
		fmt.Println(re.StatusCode, re.Code, re.Message)
	}
	// Output:
	// service got: PUT /api/hubs/chat/permissions/sendToGroup/connections/gone?api-version=2024-12-01&targetName=lobby
	// GrantPermission PUT /api/hubs/chat/permissions/sendToGroup/connections/gone?api-version=2024-12-01&targetName=lobby
	// 404 Info.Connection.NotExisted Connection gone is not found.
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
	fmt.Println(wps.Or(wps.FilterUserIs("alice"), wps.FilterInGroup("admins")))
	// Output:
	// userId eq 'o''brien'
	// (userId eq 'alice') or ('admins' in groups)
}

// Not of the zero Filter (which means "no filter", every connection) would
// select no connection, which is almost always a bug; dropping it would
// select every connection. So it carries an error, and a call given it
// fails without sending anything.
func ExampleNot() {
	fmt.Println(wps.Not(wps.FilterInGroup("banned")))

	var blocked wps.Filter // e.g. built from an empty list of blocked users
	f := wps.Not(blocked)
	fmt.Println(f.Err())
	client, _ := wps.NewClientFromConnectionString(exampleService(), "chat", nil)
	err := client.SendToAll(context.Background(), wps.Text("hi"), &wps.SendOptions{Filter: f})
	fmt.Println(err)
	// Output:
	// not ('banned' in groups)
	// filter: Not of an empty filter (it would match no connection; an empty filter matches every one)
	// wps: SendToAll: filter: Not of an empty filter (it would match no connection; an empty filter matches every one)
}

// RawFilter is the escape hatch for expressions the constructors do not
// build; quote every value in it with Quote.
func ExampleRawFilter() {
	prefix := "guest-'1"
	f := wps.And(wps.RawFilter("startswith(userId, "+wps.Quote(prefix)+")"), wps.FilterInGroup("lobby"))
	fmt.Println(f)
	// Output:
	// (startswith(userId, 'guest-''1')) and ('lobby' in groups)
}

// staticCredential is an azcore.TokenCredential handing out one token, for
// the example; real code passes an azidentity credential (see
// Example_managedIdentity).
type staticCredential struct{ token string }

func (c staticCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	fmt.Println("credential asked for", opts.Scopes)
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// With a token credential, every call carries a Microsoft Entra ID token
// (fetched once and reused until shortly before it expires), and client
// access tokens are minted by the service.
func ExampleNewClient() {
	endpoint := exampleEndpoint() // e.g. "https://example.webpubsub.azure.com"
	client, err := wps.NewClient(endpoint, "chat", staticCredential{"entra-token"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	fmt.Println("error:", client.SendToUser(ctx, "alice", wps.Text("hi"), nil))
	access, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "alice", Groups: []string{"lobby"}})
	fmt.Println(access.Token, err)
	// Output:
	// credential asked for [https://webpubsub.azure.com/.default]
	// service got: POST /api/hubs/chat/users/alice/:send?api-version=2024-12-01 text/plain hi (Bearer entra-token)
	// error: <nil>
	// service got: POST /api/hubs/chat/:generateToken?api-version=2024-12-01&userId=alice&minutesToExpire=60&group=lobby (Bearer entra-token)
	// service-issued-token <nil>
}

// On Azure Functions (or any Azure host with a managed identity), azidentity's
// ManagedIdentityCredential plugs in directly. This example is compiled but
// not run: it needs a managed-identity endpoint.
func Example_managedIdentity() {
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		// For a user-assigned identity; leave out for the system-assigned one.
		ID: azidentity.ClientID(os.Getenv("AZURE_CLIENT_ID")),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := wps.NewClient(os.Getenv("WEBPUBSUB_ENDPOINT"), "chat", cred, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = client.SendToAll(context.Background(), wps.Text("hello"), nil)
}

// With an access key, each call carries a short-lived JWT signed with the key
// for that call's URL; Update on the KeyCredential rotates the key while the
// client is in use.
func ExampleNewClientWithKey() {
	key := wps.NewKeyCredential("<access key>") // e.g. from a secret store
	client, err := wps.NewClientWithKey("https://example.webpubsub.azure.com", "chat", key, &wps.ClientOptions{
		Retry: wps.RetryOptions{MaxRetries: 5, Delay: 200 * time.Millisecond},
	})
	fmt.Println(client.Endpoint(), client.Hub(), err)
	key.Update("<the other access key>") // rotation: later calls sign with it
	// Output:
	// https://example.webpubsub.azure.com chat <nil>
}
