package wps

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// A secret the answer echoes across the point where the message is cut must
// not leave a piece of itself in the error text.
func TestResponseErrorRedactsBeforeTruncating(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		// 280 bytes of padding put the key across the 300-byte cut.
		w.Write([]byte(strings.Repeat("x", 280) + " key " + testKey + " token " + r.Header.Get("Authorization")))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	err := c.SendToAll(context.Background(), Text("hi"), nil)
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 {
		t.Fatalf("err = %v, want a 400 *ResponseError", err)
	}
	if piece := testKey[:12]; strings.Contains(err.Error(), piece) {
		t.Fatalf("error text holds a piece of the key: %s", err)
	}
}

// blockingCredential blocks GetToken until release is closed.
type blockingCredential struct{ release chan struct{} }

func (b *blockingCredential) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	<-b.release
	return azcore.AccessToken{Token: "entra-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// A caller whose context ends while another caller's token fetch hangs must
// return at once, not wait for the other fetch.
func TestTokenCredentialWaitHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer srv.Close()
	cred := &blockingCredential{release: make(chan struct{})}
	defer close(cred.release)
	c, err := NewClient(srv.URL, "chat", cred, &ClientOptions{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	go c.SendToAll(context.Background(), Text("first"), nil) // holds the fetch
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.SendToAll(ctx, Text("second"), nil) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SendToAll did not return when its context ended while another call fetched a token")
	}
}

// A nextLink that repeats the page just fetched would page forever; the
// iterator must end with an error instead.
func TestListStopsOnRepeatedNextLink(t *testing.T) {
	var calls int
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"value":[{"connectionId":"c1"}],"nextLink":"` + srv.URL + `/api/hubs/chat/groups/g/connections?api-version=2024-12-01&continuationToken=same"}`))
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	n := 0
	var last error
	for m, err := range c.ListConnectionsInGroup(context.Background(), "g", nil) {
		if err != nil {
			last = err
			break
		}
		if m.ConnectionID != "c1" {
			t.Fatalf("member %+v", m)
		}
		if n++; n > 10 {
			t.Fatalf("still paging after %d members (%d calls): a repeated nextLink loops forever", n, calls)
		}
	}
	if last == nil || !strings.Contains(last.Error(), "nextLink") {
		t.Fatalf("iteration ended with %v, want an error about the repeated nextLink", last)
	}
	if calls != 2 {
		t.Errorf("%d calls, want 2 (the first page and the one that repeats)", calls)
	}
}
