package cloudevents

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandler feeds arbitrary methods, header blocks ("Name: value" lines)
// and bodies to the handler. It must never panic, never answer outside the
// statuses it documents, and never accept (2xx) an event whose ce-signature
// does not carry the right HMAC.
func FuzzHandler(f *testing.F) {
	sig := Sign("conn1", testKey)
	base := func(typ, extra string) string {
		return "ce-type: " + typ + "\nce-hub: chat\nce-connectionId: conn1\nce-signature: " + sig + "\n" + extra
	}
	f.Add("POST", base(TypeUserPrefix+"message", "Content-Type: text/plain\n"), []byte("hello"))
	f.Add("POST", base(TypeUserPrefix+"message", "Content-Type: application/json\nce-connectionState: eyJjb3VudGVyIjogNDF9\n"), []byte(`{"x":1}`))
	f.Add("POST", base(TypeConnect, "Content-Type: application/json\n"), []byte(`{"claims":{"sub":["a"]},"query":{"a":["1"]},"subprotocols":["p"]}`))
	f.Add("POST", base(TypeConnect, "ce-subprotocol: mqtt\nce-physicalConnectionId: p\n"), []byte(`{"mqtt":{"protocolVersion":5,"username":"u","password":"AQI="}}`))
	f.Add("POST", base(TypeDisconnected, ""), []byte(`{"reason":null,"mqtt":{"initiatedByClient":true,"disconnectPacket":{"code":4}}}`))
	f.Add("POST", base(TypeGroupJoined, ""), []byte(`{"group":"g"}`))
	f.Add("POST", base(TypeConnected, "ce-connectionState: e30=\n"), []byte(`{}`))
	f.Add("POST", base(TypeUserPrefix+"x", "ce-connectionState: %%%\n"), []byte("x"))
	f.Add("POST", "ce-type: "+TypeUserPrefix+"message\nce-hub: chat\nce-connectionId: conn1\n", []byte("unsigned"))
	f.Add("POST", "ce-type: "+TypeConnect+"\nce-hub: chat\nce-connectionId: conn1\nce-signature: sha256=00\n", []byte("{"))
	f.Add("OPTIONS", "WebHook-Request-Origin: a.example\n", []byte(nil))
	f.Add("GET", "", []byte(nil))
	f.Add("PATCH", "ce-signature: , ,sha256=,\n", []byte("x"))

	h := &Handler{
		Hub: "chat", Keys: NewKeys(testKey), MaxBodyBytes: 4096, Logger: quietLogger(),
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			r := &ConnectResponse{UserID: req.UserID, Groups: req.Subprotocols}
			return r, r.SetState("q", req.Query)
		},
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			var v any
			req.State().Get("counter", &v)
			r := &UserEventResponse{Data: req.Data, DataType: req.DataType}
			return r, r.SetState("counter", v)
		},
		Connected:    func(ctx context.Context, req *ConnectedRequest) error { return nil },
		Disconnected: func(ctx context.Context, req *DisconnectedRequest) error { return nil },
		GroupJoined:  func(ctx context.Context, req *GroupEventRequest) error { return nil },
	}
	if err := h.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, headers string, body []byte) {
		if !validMethod(method) {
			return
		}
		req := httptest.NewRequest("GET", "/", strings.NewReader(string(body)))
		req.Method = method
		for line := range strings.SplitSeq(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || !validHeaderName(k) {
				continue
			}
			req.Header.Add(k, strings.TrimSpace(v))
		}
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		code := rr.Code
		switch code {
		case 200, 204, 400, 401, 404, 405, 413, 500:
		default:
			t.Fatalf("status %d", code)
		}
		if code < 300 && method == http.MethodPost {
			connID := req.Header.Get("ce-connectionId")
			want := strings.ToLower(Sign(connID, testKey)[7:])
			if !strings.Contains(strings.ToLower(strings.Join(req.Header.Values("ce-signature"), ",")), want) {
				t.Fatalf("accepted an unsigned event: %d %v", code, req.Header)
			}
		}
		if code >= 400 && strings.Contains(rr.Body.String(), "goroutine ") {
			t.Fatalf("stack trace in the answer: %q", rr.Body)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

func validHeaderName(k string) bool {
	return k != "" && validMethod(k)
}
