package bearer

import (
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/auth"
)

func TestOIDCConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth.OIDC
		want string // "" accepts
	}{
		{"off", auth.OIDC{}, ""},
		{"on", auth.OIDC{Issuer: "https://login.example/", Audiences: []string{"api://x"}}, ""},
		{"audiences without issuer", auth.OIDC{Audiences: []string{"api://x"}}, "X_OIDC_AUDIENCES is set but X_OIDC_ISSUER and X_OIDC_JWKS_URL are not"},
		{"no audience", auth.OIDC{Issuer: "https://login.example"}, "X_OIDC_* Audiences must name at least one non-empty audience"},
		{"HS256", auth.OIDC{Issuer: "https://login.example", Audiences: []string{"a"}, Algorithms: []string{"HS256"}}, `algorithm "HS256" is not accepted`},
		{"negative leeway", auth.OIDC{Issuer: "https://login.example", Audiences: []string{"a"}, Leeway: -time.Second}, "Leeway is negative"},
		{"required roles without claim", auth.OIDC{Issuer: "https://login.example", Audiences: []string{"a"}, RequireRoles: []string{"r"}}, "X_OIDC_REQUIRE_ROLES needs X_OIDC_ROLES_CLAIM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOIDC(&tc.cfg, "X_")
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
