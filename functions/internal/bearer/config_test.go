package bearer

import (
	"strings"
	"testing"
	"time"
)

func TestOIDCConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  OIDCConfig
		want string // "" accepts
	}{
		{"off", OIDCConfig{}, ""},
		{"on", OIDCConfig{Issuer: "https://login.example/", Audiences: []string{"api://x"}}, ""},
		{"audiences without issuer", OIDCConfig{Audiences: []string{"api://x"}}, "X_OIDC_AUDIENCES is set but X_OIDC_ISSUER and X_OIDC_JWKS_URL are not"},
		{"no audience", OIDCConfig{Issuer: "https://login.example"}, "X_OIDC_* Audiences must name at least one non-empty audience"},
		{"HS256", OIDCConfig{Issuer: "https://login.example", Audiences: []string{"a"}, Algorithms: []string{"HS256"}}, `algorithm "HS256" is not accepted`},
		{"negative leeway", OIDCConfig{Issuer: "https://login.example", Audiences: []string{"a"}, Leeway: -time.Second}, "Leeway is negative"},
		{"required roles without claim", OIDCConfig{Issuer: "https://login.example", Audiences: []string{"a"}, RequireRoles: []string{"r"}}, "X_OIDC_REQUIRE_ROLES needs X_OIDC_ROLES_CLAIM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check("X_")
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
