package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	. "github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

func TestValidate(t *testing.T) {
	open := &Handler{Authenticator: NoAuthentication, Logger: quietLogger()}
	only := &Handler{Authenticator: NoAuthentication, Logger: quietLogger(), AllowedOrigins: []string{"svc.example"}}
	for _, tc := range []struct {
		name   string
		h      http.Handler
		origin string
		reason string
	}{
		{"any origin", open, "anything", ""},
		{"allowed origin in another case", only, "SVC.example", ""},
		{"other origin", only, "other.example", "AbuseProtectionResponseInvalidStatusCode"},
		{"no allowed origin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), "x", "AbuseProtectionResponseMissingAllowedOrigin"},
		{"wrong allowed origin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WebHook-Allowed-Origin", "y")
		}), "x", "AbuseProtectionResponseInvalidAllowedOrigin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			err := (&upstream.Caller{Origin: tc.origin}).Validate(context.Background(), srv.URL+"/api/validate?code=SECRET")
			srv.Close()
			var ve *upstream.ValidationError
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("%v", err)
			case tc.reason != "" && (!errors.As(err, &ve) || ve.Reason != tc.reason):
				t.Errorf("%v, want %s", err, tc.reason)
			case err != nil && strings.Contains(err.Error(), "SECRET"):
				t.Errorf("error leaks the query: %v", err)
			}
		})
	}
}
