package reply

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRefuse(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPut, "/", nil)
	Refuse(log, "thing refused", w, r, http.StatusMethodNotAllowed, `method PUT not allowed; "use" POST`)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("answer %d %v", w.Code, w.Header())
	}
	if got, want := w.Body.String(), `{"error":"method PUT not allowed; \"use\" POST"}`+"\n"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if l := logs.String(); !strings.Contains(l, `level=WARN msg="thing refused" status=405`) || !strings.Contains(l, "method=PUT remote=192.0.2.1:1234") {
		t.Fatalf("log %q", l)
	}
}
