package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/idp"
)

// TestRESTEntraTokens: with local auth on, the REST API takes a token for
// the Entra audience only when the local tenant issued it (RS256 by one of
// its keys, its issuer, the audience, unexpired); a token signed with the
// access key for that audience is refused like any forgery.
func TestRESTEntraTokens(t *testing.T) {
	e := newEnv(t, Config{})
	p, err := e.s.provider()
	if err != nil {
		t.Fatal(err)
	}
	other, err := idp.New(idp.RS256)
	if err != nil {
		t.Fatal(err)
	}
	iss := Authority(e.base)
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": iss, "aud": EntraAudience, "sub": "fn", "oid": "fn", "tid": LocalTenant,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	mint := func(p *idp.Provider, c jwt.MapClaims) string {
		tok, err := p.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs := func(key string, c jwt.MapClaims) string {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
		return tok
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// An RS256 token whose header names the tenant's current kid, signed by another key.
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
	forged.Header["kid"] = p.KeyID()
	forgedTok, _ := forged.SignedString(other.Signer())

	for _, tc := range []struct {
		name, token string
		status      int
		reason      string
	}{
		{"the tenant's token", mint(p, claims(nil)), http.StatusAccepted, ""},
		{"the tenant's token for .default", mint(p, claims(func(c jwt.MapClaims) { c["aud"] = EntraAudience + "/" })), http.StatusAccepted, ""},
		{"key-signed for the Entra audience", hs(DefaultAccessKey, claims(nil)), http.StatusUnauthorized, "audience is not the request URL"},
		{"key-signed for the .default scope", hs(DefaultAccessKey, claims(func(c jwt.MapClaims) { c["aud"] = EntraAudience + "/.default" })), http.StatusUnauthorized, "audience is not the request URL"},
		{"alg none", none, http.StatusUnauthorized, "Unauthorized"},
		{"another issuer's key", mint(other, claims(nil)), http.StatusUnauthorized, "the Entra token is invalid"},
		{"the tenant's kid, another key", forgedTok, http.StatusUnauthorized, "the Entra token is invalid"},
		{"expired", mint(p, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Minute).Unix() })), http.StatusUnauthorized, "expired"},
		{"no exp", mint(p, claims(func(c jwt.MapClaims) { delete(c, "exp") })), http.StatusUnauthorized, "the Entra token is invalid"},
		{"not yet valid", mint(p, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), http.StatusUnauthorized, "the Entra token is invalid"},
		{"another audience", mint(p, claims(func(c jwt.MapClaims) { c["aud"] = "api://wpsfn-events" })), http.StatusUnauthorized, "audience is not https://webpubsub.azure.com"},
		{"another issuer", mint(p, claims(func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/x/v2.0" })), http.StatusUnauthorized, "not from this emulator's tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.base+"/api/hubs/chat/:send?api-version=2024-12-01", strings.NewReader("hi"))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, "status", resp.StatusCode, tc.status)
			if tc.status != http.StatusAccepted {
				var body struct{ Message string }
				json.Unmarshal(b, &body)
				assert.Contains(t, "reason", body.Message, tc.reason)
				assert.True(t, "no token in the answer", !strings.Contains(string(b), tc.token[:16]))
			}
		})
	}
}
