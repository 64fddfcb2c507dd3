package cloudevents

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestVerifierCache: a remembered connection id still needs its own
// signature, and ids that evicted each other from the cache verify again.
func TestVerifierCache(t *testing.T) {
	v := newVerifier([]string{testKey, otherKey})
	ids := make([]string, 2*maxCachedIDs)
	for i := range ids {
		ids[i] = "conn-" + strconv.Itoa(i)
	}
	for round := range 2 {
		for _, id := range ids {
			if !v.verify(id, Sign(id, testKey)) || !v.verify(id, Sign(id, otherKey)) {
				t.Fatalf("round %d: %s refused", round, id)
			}
			if v.verify(id, Sign(id, "not-a-configured-key")) || v.verify(id, Sign(id+"x", testKey)) {
				t.Fatalf("round %d: %s accepted with a wrong signature", round, id)
			}
		}
	}
	id := ids[0]
	if !v.verify(id, Sign(id, testKey)) { // now cached
		t.Fatal("refused")
	}
	good := Sign(id, testKey)
	for _, bad := range []string{"", "sha256=", good[:len(good)-1], good[:len(good)-1] + "0", Sign(ids[1], testKey), Sign(id, "k")} {
		if bad == good {
			continue
		}
		if v.verify(id, bad) {
			t.Fatalf("cached id accepted %q", bad)
		}
	}
}

// TestTimeoutThenFastCalls: after a callback timed out, the handler's reused
// timers do not cut later, quick callbacks off, and a second slow one is cut
// off again.
func TestTimeoutThenFastCalls(t *testing.T) {
	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey), Logger: quietLogger(), Timeout: 50 * time.Millisecond,
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			if string(req.Data) == "slow" {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return &UserEventResponse{Data: req.Data}, nil
		},
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cc := ConnectionContext{Hub: "chat", ConnectionID: "c"}
	for _, data := range []string{"a", "slow", "b", "c", "slow", "d"} {
		ans, err := send(context.Background(), srv.URL, &UserEventRequest{ConnectionContext: cc, Data: []byte(data)}, testKey)
		if err != nil {
			t.Fatal(err)
		}
		want, status := data, 200
		if data == "slow" {
			want, status = "event handler timed out", 504
		}
		if ans.Status != status || string(ans.Body) != want {
			t.Errorf("%s: status %d %q", data, ans.Status, ans.Body)
		}
	}
	// Fast calls that outlast the timeout in total must not be cut off.
	for i := range 20 {
		ans, err := send(context.Background(), srv.URL, &UserEventRequest{ConnectionContext: cc, Data: []byte("x")}, testKey)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Status != 200 {
			t.Fatalf("call %d: status %d", i, ans.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
