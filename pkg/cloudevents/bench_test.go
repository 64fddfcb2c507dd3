package cloudevents

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// nopWriter is a minimal ResponseWriter so the benchmark measures the
// handler, not httptest.ResponseRecorder.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkServeHTTPUserEvent: one signed text user event through
// ServeHTTP, with signature checking on and an echo callback.
func BenchmarkServeHTTPUserEvent(b *testing.B) {
	benchServe(b, DataText, "", false)
}

// BenchmarkServeHTTPUserEventState adds an incoming state and sets a key.
func BenchmarkServeHTTPUserEventState(b *testing.B) {
	st, _ := NewState(map[string]any{"counter": 41, "user": "alice"})
	benchServe(b, DataText, st.Encode(), true)
}

func benchServe(b *testing.B, dt DataType, state string, setState bool) {
	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey, otherKey), Logger: quietLogger(),
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			r := &UserEventResponse{Data: req.Data, DataType: req.DataType}
			if setState {
				return r, r.SetState("counter", 42)
			}
			return r, nil
		},
	}
	if err := h.Validate(); err != nil {
		b.Fatal(err)
	}
	ue := &UserEventRequest{ConnectionContext: ConnectionContext{Hub: "chat", ConnectionID: "c-0123456789", UserID: "alice", RawState: state},
		Data: []byte("hello, world"), DataType: dt}
	proto, err := newRequest(context.Background(), "http://127.0.0.1/eventhandler", ue, testKey, otherKey)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("hello, world")
	rd := bytes.NewReader(body)
	req := proto.Clone(context.Background())
	req.Body = io.NopCloser(rd)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// connectBench is the handler and the connect event (the service's usual
// body, no connection id yet) both connect benchmarks use; the handler
// answers with a user id and a group.
func connectBench(b *testing.B) (http.Handler, *ConnectRequest) {
	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey, otherKey), Logger: quietLogger(),
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			return &ConnectResponse{UserID: req.UserID, Groups: []string{"g1"}}, nil
		},
	}
	if err := h.Validate(); err != nil {
		b.Fatal(err)
	}
	ev := &ConnectRequest{ConnectionContext: ConnectionContext{Hub: "chat", UserID: "alice"},
		Claims: map[string][]string{"sub": {"alice"}, "role": {"webpubsub.joinLeaveGroup"}}, Query: map[string][]string{"access_token": {"x"}},
		Headers: map[string][]string{"Host": {"127.0.0.1"}, "Upgrade": {"websocket"}}, Subprotocols: []string{"json.webpubsub.azure.v1"}}
	return h, ev
}

// BenchmarkServeHTTPConnect: one signed connect (the service's usual body)
// through ServeHTTP, answered with a user id and a group. The connection id
// repeats, so the signature check is served from the handler's cache; a
// real connect (a new id) adds the HMACs (see BenchmarkVerifyMiss).
func BenchmarkServeHTTPConnect(b *testing.B) {
	h, ev := connectBench(b)
	ev.ConnectionID = "c-0123456789"
	proto, err := newRequest(context.Background(), "http://127.0.0.1/eventhandler", ev, testKey)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(proto.Body)
	rd := bytes.NewReader(body)
	req := proto.Clone(context.Background())
	req.Body = io.NopCloser(rd)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkServeHTTPConnectNewIDs: BenchmarkServeHTTPConnect with a
// connection id the handler has not seen for every connect (they cycle
// through more ids than its cache keeps), as from the service: every
// signature is computed.
func BenchmarkServeHTTPConnectNewIDs(b *testing.B) {
	h, ev := connectBench(b)
	var body []byte
	rd := bytes.NewReader(nil)
	reqs := make([]*http.Request, 3*maxCachedIDs)
	for i := range reqs {
		ev.ConnectionID = "conn-" + strconv.Itoa(i)
		proto, err := newRequest(context.Background(), "http://127.0.0.1/eventhandler", ev, testKey, otherKey)
		if err != nil {
			b.Fatal(err)
		}
		body, _ = io.ReadAll(proto.Body)
		reqs[i] = proto.Clone(context.Background())
		reqs[i].Body = io.NopCloser(rd)
	}
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		h.ServeHTTP(w, reqs[i%len(reqs)])
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
		i++
	}
}

// BenchmarkVerifyMiss: checking the signature of a connection id seen for
// the first time (two keys, the service's header with both entries).
func BenchmarkVerifyMiss(b *testing.B) {
	ids := make([]string, 3*maxCachedIDs) // cycling through more ids than the cache keeps
	sigs := make([]string, len(ids))
	for i := range ids {
		ids[i] = "conn-" + strconv.Itoa(i)
		sigs[i] = Sign(ids[i], testKey, otherKey)
	}
	v := newVerifier([]string{testKey, otherKey})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !v.verify(ids[i%len(ids)], sigs[i%len(ids)]) {
			b.Fatal("refused")
		}
		i++
	}
}
