package broadcast

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/internal/nodetest"
)

// TestBroadcastOIDCProvider authorizes callers by client-credentials
// tokens of the real npm oidc-provider: only a caller whose roles claim
// holds chat.broadcast may send.
func TestBroadcastOIDCProvider(t *testing.T) {
	op := nodetest.StartOIDCProvider(t)
	h, rec, logs := newBroadcast(t, func(c *Config) {
		c.Secret, c.JWTSecret = "", ""
		c.OIDC.Issuer = op.Issuer
		c.OIDC.Audiences = []string{"api://chat"}
		c.OIDC.RolesClaim = "roles"
		c.OIDC.RequireRoles = []string{"chat.broadcast"}
	})
	es, rs := op.Token(t, "es"), op.Token(t, "rs")
	w := post(h, "Bearer "+es, `{"to":"group","id":"lobby","text":"hi"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("ES256 token with the role: %d %s", w.Code, w.Body)
	}
	if got := rec.Requests(); len(got) != 1 || got[0].Body != "hi" || !strings.HasSuffix(got[0].Path, "/groups/lobby/:send") {
		t.Fatalf("sent %+v", got)
	}
	for _, tc := range []struct {
		name, auth string
		status     int
		want       string
	}{
		{"RS256 token without the role", "Bearer " + rs, http.StatusForbidden, "token's roles claim holds none of the required roles"},
		{"no token", "", http.StatusUnauthorized, "missing Authorization header"},
		{"garbage", "Bearer a.b.c", http.StatusUnauthorized, "malformed token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(h, tc.auth, `{"to":"all","text":"x"}`)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d %s, want %d %q", w.Code, w.Body, tc.status, tc.want)
			}
		})
	}
	if n := len(rec.Requests()); n != 1 {
		t.Fatalf("%d REST calls, want only the authorized one", n)
	}
	if !strings.Contains(logs.String(), "auth=oidc sub=es") || strings.Contains(logs.String(), es) {
		t.Fatalf("log: %s", logs)
	}
}
