package wps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wpsfn/wpsfn/internal/httprec"
)

type fakeTokenCredential struct {
	calls  atomic.Int32
	ttl    time.Duration
	scopes []string
	err    error
}

func (f *fakeTokenCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := f.calls.Add(1)
	f.scopes = o.Scopes
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	return azcore.AccessToken{Token: fmt.Sprintf("entra-token-%d", n), ExpiresOn: time.Now().Add(f.ttl)}, nil
}

func TestTokenCredential(t *testing.T) {
	rec := newRecorder(t)
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.HasSuffix(r.URL.Path, "/:generateToken") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token":"service.issued.token"}`)
			return
		}
		w.WriteHeader(httprec.RESTStatus(r.Method, r.URL.Path))
	}
	cred := &fakeTokenCredential{ttl: time.Hour}
	c, err := NewClient(rec.URL, "chat", cred, &ClientOptions{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if err := c.SendToAll(ctx, Text("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := c.ClientAccessURL(ctx, &ClientAccessOptions{
		UserID: "a b", Roles: []string{RoleSendToGroup("g 1"), RoleJoinLeaveGroupAny},
		Groups: []string{"g 1", "g2"}, Expiry: 90 * time.Second, Protocol: ProtocolMQTT,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cred.calls.Load() != 1 || len(cred.scopes) != 1 || cred.scopes[0] != Scope {
		t.Errorf("GetToken called %d times with %v; want once with %q (the token is cached)", cred.calls.Load(), cred.scopes, Scope)
	}
	got := rec.requests()
	for _, r := range got {
		if r.Authorization != "Bearer entra-token-1" {
			t.Errorf("Authorization %q", r.Authorization)
		}
	}
	gen := got[3]
	if gen.Method != "POST" || gen.Path != "/api/hubs/chat/:generateToken" ||
		gen.RawQuery != "api-version=2024-12-01&userId=a%20b&role=webpubsub.sendToGroup.g%201&role=webpubsub.joinLeaveGroup&minutesToExpire=1&group=g%201&group=g2&clientType=mqtt" {
		t.Errorf(":generateToken request %+v", gen)
	}
	wantBase := "ws" + strings.TrimPrefix(rec.URL, "http") + "/clients/mqtt/hubs/chat"
	if ca.Token != "service.issued.token" || ca.BaseURL != wantBase || ca.URL != wantBase+"?access_token=service.issued.token" {
		t.Errorf("ClientAccess %+v", ca)
	}

	// A token without an expiry is not reused; a failing credential fails the call with its reason.
	cred2 := &fakeTokenCredential{}
	c2, _ := NewClient(rec.URL, "chat", cred2, &ClientOptions{Retry: fastRetry})
	_ = c2.SendToAll(ctx, Text("x"), nil)
	_ = c2.SendToAll(ctx, Text("x"), nil)
	if cred2.calls.Load() != 2 {
		t.Errorf("GetToken called %d times for a token that has expired, want 2", cred2.calls.Load())
	}
	failing := &fakeTokenCredential{err: errors.New("no identity")}
	c3, _ := NewClient(rec.URL, "chat", failing, nil)
	if err := c3.SendToAll(ctx, Text("x"), nil); err == nil || !strings.Contains(err.Error(), "no identity") {
		t.Errorf("error %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	rec := newRecorder(t)
	cred := NewKeyCredential("old-key")
	c, err := NewClientWithKey(rec.URL, "chat", cred, &ClientOptions{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.SendToAll(ctx, Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	cred.Update("new-key")
	if err := c.SendToAll(ctx, Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	ca, err := c.ClientAccessURL(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.requests()
	verifyRESTToken(t, got[0].Authorization, "old-key")
	verifyRESTToken(t, got[1].Authorization, "new-key")
	if _, err := jwt.Parse(ca.Token, func(*jwt.Token) (any, error) { return []byte("new-key"), nil }); err != nil {
		t.Errorf("client token after rotation: %v", err)
	}
}

func TestReverseProxyWithPath(t *testing.T) {
	rec := newRecorder(t)
	c, err := NewClientFromConnectionString("Endpoint=https://res.webpubsub.azure.com;AccessKey="+testKey+";Version=1.0;", "chat",
		&ClientOptions{ReverseProxyEndpoint: rec.URL + "/wps/", Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendToUser(context.Background(), "u/1", Text("x"), &SendOptions{MessageTTL: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	if r.Path != "/wps/api/hubs/chat/users/u%2F1/:send" || r.RawQuery != "api-version=2024-12-01&messageTtlSeconds=2" {
		t.Errorf("request %+v", r)
	}
	_, claims := verifyRESTToken(t, r.Authorization, testKey)
	if claims["aud"] != "https://res.webpubsub.azure.com/api/hubs/chat/users/u%2F1/:send?api-version=2024-12-01&messageTtlSeconds=2" {
		t.Errorf("aud %v: must be the service URL, not the proxy's", claims["aud"])
	}
}

func TestClientEndpointFromConnectionString(t *testing.T) {
	c, err := NewClientFromConnectionString("Endpoint=https://res.webpubsub.azure.com;AccessKey="+testKey+";ClientEndpoint=https://clients.example.com;", "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := c.ClientAccessURL(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ca.BaseURL != "wss://clients.example.com/client/hubs/chat" {
		t.Errorf("BaseURL %q", ca.BaseURL)
	}
	claims := &ClientClaims{}
	if _, err := jwt.ParseWithClaims(ca.Token, claims, func(*jwt.Token) (any, error) { return []byte(testKey), nil }); err != nil {
		t.Fatal(err)
	}
	if claims.Audience != "https://res.webpubsub.azure.com/client/hubs/chat" {
		t.Errorf("aud %q", claims.Audience)
	}
}

func TestListConnectionsInGroup(t *testing.T) {
	rec := newRecorder(t)
	var next string
	rec.answer = func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		switch n {
		case 1:
			json.NewEncoder(w).Encode(map[string]any{
				"value":    []map[string]string{{"connectionId": "c1", "userId": "u1"}, {"connectionId": "c2"}},
				"nextLink": next,
			})
		case 2:
			fmt.Fprint(w, `{"value":[{"connectionId":"c3","userId":"u3"}]}`)
		default:
			w.WriteHeader(500)
		}
	}
	c := newTestClient(t, rec.URL, nil)
	ctx := context.Background()

	next = rec.URL + "/api/hubs/chat/groups/room%201/connections?maxpagesize=2&continuationToken=abc%3D"
	var got []GroupMember
	for m, err := range c.ListConnectionsInGroup(ctx, "room 1", &ListOptions{MaxPageSize: 2, Top: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	want := []GroupMember{{"c1", "u1"}, {"c2", ""}, {"c3", "u3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("members %v, want %v", got, want)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	if reqs[0].Method != "GET" || reqs[0].Path != "/api/hubs/chat/groups/room%201/connections" || reqs[0].RawQuery != "api-version=2024-12-01&maxpagesize=2&top=10" {
		t.Errorf("first page request %+v", reqs[0])
	}
	if reqs[1].Path != "/api/hubs/chat/groups/room%201/connections" || reqs[1].RawQuery != "api-version=2024-12-01&maxpagesize=2&continuationToken=abc%3D" {
		t.Errorf("next page request %+v", reqs[1])
	}
	if _, claims := verifyRESTToken(t, reqs[1].Authorization, testKey); claims["aud"] != rec.URL+"/api/hubs/chat/groups/room%201/connections?api-version=2024-12-01&maxpagesize=2&continuationToken=abc%3D" {
		t.Errorf("next page aud %v", claims["aud"])
	}

	// Stopping early fetches no further page.
	rec.reset()
	for range c.ListConnectionsInGroup(ctx, "room 1", nil) {
		break
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests after an early break, want 1", n)
	}

	// A nextLink to another host would carry our token away: refused.
	rec.reset()
	next = "http://elsewhere.example/api/hubs/chat/groups/room%201/connections?continuationToken=x"
	var lastErr error
	count := 0
	for _, err := range c.ListConnectionsInGroup(ctx, "room 1", nil) {
		count++
		lastErr = err
	}
	if lastErr == nil || !strings.Contains(lastErr.Error(), "nextLink does not point at the service endpoint") || count != 3 {
		t.Errorf("foreign nextLink: %d items, last error %v", count, lastErr)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestConcurrentUseWithRotation(t *testing.T) {
	rec := newRecorder(t)
	cred := NewKeyCredential("key-a")
	c, err := NewClientWithKey(rec.URL, "chat", cred, &ClientOptions{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			var err error
			for j := range 20 {
				if err = c.SendToUser(ctx, fmt.Sprintf("u%d", j%3), Text("x"), nil); err != nil {
					break
				}
				if i == 0 && j == 10 {
					cred.Update("key-b")
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Every request verifies with one of the two keys.
	for _, r := range rec.requests() {
		tok := strings.TrimPrefix(r.Authorization, "Bearer ")
		_, errA := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte("key-a"), nil })
		_, errB := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte("key-b"), nil })
		if errA != nil && errB != nil {
			t.Fatalf("token verifies with neither key")
		}
	}
	if n := len(rec.requests()); n != 160 {
		t.Errorf("%d requests, want 160", n)
	}
}
