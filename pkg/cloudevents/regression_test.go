package cloudevents

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
)

// A Content-Length far beyond the body must not be allocated up front: with
// a large MaxBodyBytes it made the handler panic (makeslice) or reserve
// memory the body never fills.
func TestHugeContentLengthDoesNotPanic(t *testing.T) {
	h := &Handler{Hub: "chat", Keys: NewKeys(testKey), MaxBodyBytes: math.MaxInt64, Logger: quietLogger()}
	req := httptest.NewRequest("POST", "/", strings.NewReader("short"))
	for k, v := range signedHeaders(TypeUserPrefix + "message") {
		req.Header.Set(k, v)
	}
	req.ContentLength = 1 << 60
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != 400 || !strings.HasPrefix(rr.Body.String(), "reading the body: ") {
		t.Fatalf("answer %d %q, want 400 for a body shorter than its Content-Length", rr.Code, rr.Body)
	}
}
