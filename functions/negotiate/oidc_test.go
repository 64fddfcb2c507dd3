package negotiate

import (
	"encoding/base64"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/nodetest"
)

// countingTransport counts the requests whose path ends in suffix.
type countingTransport struct {
	suffix string
	n      atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, c.suffix) {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestNegotiateOIDCProvider signs users in with tokens of the real npm
// oidc-provider, RS256 and ES256, through a key rotation.
func TestNegotiateOIDCProvider(t *testing.T) {
	op := nodetest.StartOIDCProvider(t)
	jwks := &countingTransport{suffix: "/jwks"}
	h, rec, logs := newNegotiate(t, func(c *Config) {
		c.OIDC.Issuer = op.Issuer
		c.OIDC.Audiences = []string{"api://chat"}
		c.OIDC.RolesClaim = "roles"
		c.RoleMap = []string{"chat.broadcast=webpubsub.sendToGroup"}
		c.GroupMap = []string{"chat.broadcast=announcements", "chat.user=lobby"}
		c.HTTPClient = &http.Client{Transport: jwks, Timeout: 10 * time.Second}
	})
	roles := []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.lobby"}
	rs, es := op.Token(t, "rs"), op.Token(t, "es")
	for _, tc := range []struct {
		name, token, user string
		roles, groups     []string
	}{
		{"RS256", rs, "rs", roles, []string{"lobby"}},
		{"ES256 with a mapped role", es, "es", append(roles, "webpubsub.sendToGroup"), []string{"lobby", "announcements"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAnswer(t, rec, get(h, "/", map[string]string{"Authorization": "Bearer " + tc.token}), tc.user, tc.roles, tc.groups, 30*time.Minute)
		})
	}
	t.Run("HS256 still goes to the application secret", func(t *testing.T) {
		checkAnswer(t, rec, get(h, "/", map[string]string{"Authorization": "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte(appSecret), nil)}),
			"alice", roles, []string{"lobby"}, 30*time.Minute)
	})
	if n := jwks.n.Load(); n != 1 {
		t.Fatalf("%d key set fetches before the rotation, want 1", n)
	}

	kids := op.Rotate(t)
	fresh := op.Token(t, "rs")
	for i := range 3 {
		w := get(h, "/", map[string]string{"Authorization": "Bearer " + fresh})
		if w.Code != http.StatusOK {
			t.Fatalf("token of the new key %v, try %d: %d %s", kids, i, w.Code, w.Body)
		}
	}
	freshES := op.Token(t, "es")
	if w := get(h, "/", map[string]string{"Authorization": "Bearer " + freshES}); w.Code != http.StatusOK {
		t.Fatalf("ES256 token of the new key: %d %s", w.Code, w.Body)
	}
	for _, old := range []string{rs, es} {
		if w := get(h, "/", map[string]string{"Authorization": "Bearer " + old}); w.Code != http.StatusOK {
			t.Fatalf("a token of the old key stopped working: %d %s", w.Code, w.Body)
		}
	}
	if n := jwks.n.Load(); n != 2 {
		t.Fatalf("%d key set fetches after the rotation, want 2: the new kids are fetched once", n)
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct{ name, token, want string }{
			{"HS256 with another secret", appToken(t, jwt.SigningMethodHS256, []byte("not the app secret at all"), nil), "token signature or algorithm invalid (HS256 expected)"},
			{"tampered ES256 payload", tamper(freshES), "token signature invalid"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w := get(h, "/", map[string]string{"Authorization": "Bearer " + tc.token})
				if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), tc.want) {
					t.Fatalf("%d %s, want 401 %q", w.Code, w.Body, tc.want)
				}
			})
		}
	})
	t.Run("OIDC only: HS256 is refused by algorithm", func(t *testing.T) {
		h, _, _ := newNegotiate(t, func(c *Config) {
			c.JWTSecret = ""
			c.OIDC.Issuer, c.OIDC.Audiences = op.Issuer, []string{"api://chat"}
		})
		w := get(h, "/", map[string]string{"Authorization": "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte(appSecret), nil)})
		if want := `token algorithm \"HS256\" is not accepted (want RS256, ES256)`; w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("%d %s, want 401 %q", w.Code, w.Body, want)
		}
	})
	if strings.Contains(logs.String(), rs) || strings.Contains(logs.String(), fresh) {
		t.Fatal("a token reached the log")
	}
}

// tamper changes one claim of a token's payload, keeping its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := jwtSegment(parts[1])
	b = strings.Replace(b, `"sub":"es"`, `"sub":"ex"`, 1)
	parts[1] = jwtEncode(b)
	return strings.Join(parts, ".")
}

func jwtSegment(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

func jwtEncode(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
