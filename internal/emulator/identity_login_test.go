package emulator

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

const (
	testLoginClient = "chat-page"
	testVerifier    = "a-code-verifier-of-at-least-forty-three-characters-0123"
)

func testChallenge(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// loginEnv is an emulator with one login client whose redirect URI is
// redirect (nothing is served there: the tests read the Location header).
func loginEnv(t *testing.T) (*testEnv, string) {
	const redirect = "http://app.example/callback"
	return newEnv(t, Config{LoginClients: []LoginClient{{ID: testLoginClient, RedirectURIs: []string{redirect}}}}), redirect
}

func noRedirects() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func authorizeQuery(redirect string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {testLoginClient}, "redirect_uri": {redirect},
		"code_challenge": {testChallenge(testVerifier)}, "code_challenge_method": {"S256"}, "state": {"st-1"},
		"nonce": {"n-1"}, "scope": {"openid profile"}}
}

// signIn posts the form as the user named name and returns the redirect.
func signIn(t *testing.T, e *testEnv, q url.Values, name string) *url.URL {
	t.Helper()
	f := url.Values{}
	for k, v := range q {
		f[k] = v
	}
	f.Set("name", name)
	resp, err := noRedirects().PostForm(e.base+"/"+LocalTenant+"/oauth2/v2.0/authorize", f)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in answered %d, want 302", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func redeem(t *testing.T, e *testEnv, f url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(e.base+"/"+LocalTenant+"/oauth2/v2.0/token", f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer: %v", err)
	}
	assert.Equal(t, "Cache-Control", resp.Header.Get("Cache-Control"), "no-store")
	return resp.StatusCode, body
}

// TestLoginCodeFlow signs in through the authorize form and trades the code
// for tokens that pkg/oidc verifies through the tenant's discovery document.
func TestLoginCodeFlow(t *testing.T) {
	e, redirect := loginEnv(t)
	q := authorizeQuery(redirect)

	resp, err := http.Get(e.base + "/" + LocalTenant + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "authorize status", resp.StatusCode, http.StatusOK)
	assert.Contains(t, "authorize page", string(page), `<input type="text" id="name" name="name"`)
	assert.Contains(t, "authorize page", string(page), `name="code_challenge" value="`+testChallenge(testVerifier)+`"`)

	back := signIn(t, e, q, "  Ada Lovelace ")
	assert.Equal(t, "redirect", back.Scheme+"://"+back.Host+back.Path, redirect)
	assert.Equal(t, "state", back.Query().Get("state"), "st-1")
	code := back.Query().Get("code")
	assert.True(t, "a code", len(code) >= 40)

	status, body := redeem(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {testLoginClient},
		"redirect_uri": {redirect}, "code_verifier": {testVerifier}})
	assert.Equal(t, "token status", status, http.StatusOK)
	assert.Equal(t, "token_type", body["token_type"], any("Bearer"))
	idToken, _ := body["id_token"].(string)

	v, err := oidc.New(oidc.Config{Issuer: Authority(e.base), Audiences: []string{testLoginClient}, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"id_token", "access_token"} {
		raw, _ := body[kind].(string)
		tok, err := v.Verify(context.Background(), raw)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		assert.Equal(t, kind+" sub", tok.Subject, "Ada Lovelace")
		assert.Equal(t, kind+" alg", tok.Algorithm, "RS256")
		assert.True(t, kind+" expiry", time.Until(tok.Expiry) > 50*time.Minute)
		if kind == "id_token" {
			assert.Equal(t, "nonce", tok.String("nonce"), "n-1")
		}
	}

	// The code was good once.
	status, body = redeem(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {testLoginClient},
		"redirect_uri": {redirect}, "code_verifier": {testVerifier}})
	assert.Equal(t, "reused code", status, http.StatusBadRequest)
	assert.Equal(t, "reused code error", body["error"], any("invalid_grant"))

	// Discovery lists both endpoints and PKCE.
	resp, err = http.Get(Authority(e.base) + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Authorize string   `json:"authorization_endpoint"`
		Token     string   `json:"token_endpoint"`
		PKCE      []string `json:"code_challenge_methods_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	assert.Equal(t, "authorization_endpoint", disc.Authorize, e.base+"/"+LocalTenant+"/oauth2/v2.0/authorize")
	assert.Equal(t, "token_endpoint", disc.Token, e.base+"/"+LocalTenant+"/oauth2/v2.0/token")
	assert.Equal(t, "PKCE methods", strings.Join(disc.PKCE, ","), "S256")

	// Nothing secret in the trace.
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.traces {
		for _, secret := range []string{code, testVerifier, idToken[:20]} {
			if strings.Contains(ev.Summary+ev.Detail, secret) {
				t.Errorf("trace %q shows a code, verifier or token", ev.Summary)
			}
		}
	}
}

// TestLoginRefusals: requests that cannot be redirected get a page, the
// others go back with an OAuth error; a code fails with any other client,
// redirect URI or verifier, and is gone after one wrong try.
func TestLoginRefusals(t *testing.T) {
	e, redirect := loginEnv(t)
	authorize := e.base + "/" + LocalTenant + "/oauth2/v2.0/authorize?"
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		status int
		error  string // the redirect's error, or the page's text
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, 400, "client_id is not a client of this tenant"},
		{"no client", func(q url.Values) { q.Del("client_id") }, 400, "client_id is required"},
		{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "http://evil.example/callback") }, 400, "redirect_uri is not registered"},
		{"redirect with a suffix", func(q url.Values) { q.Set("redirect_uri", redirect+"/x") }, 400, "redirect_uri is not registered"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "token") }, 302, "unsupported_response_type"},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, 302, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, 302, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, 302, "invalid_request"},
		{"huge state", func(q url.Values) { q.Set("state", strings.Repeat("s", 600)) }, 302, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authorizeQuery(redirect)
			tc.change(q)
			resp, err := noRedirects().Get(authorize + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, "status", resp.StatusCode, tc.status)
			if tc.status == 302 {
				u, _ := url.Parse(resp.Header.Get("Location"))
				assert.Equal(t, "redirected to", u.Host, "app.example")
				assert.Equal(t, "error", u.Query().Get("error"), tc.error)
				return
			}
			assert.Equal(t, "no redirect", resp.Header.Get("Location"), "")
			assert.Contains(t, "page", string(b), tc.error)
			assert.True(t, "no form", !strings.Contains(string(b), `name="name"`))
		})
	}
	t.Run("empty name", func(t *testing.T) {
		f := authorizeQuery(redirect)
		f.Set("name", "   ")
		resp, err := noRedirects().PostForm(e.base+"/"+LocalTenant+"/oauth2/v2.0/authorize", f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "status", resp.StatusCode, http.StatusBadRequest)
		assert.Contains(t, "page", string(b), "Enter a name")
	})
	t.Run("cancel", func(t *testing.T) {
		f := authorizeQuery(redirect)
		f.Set("cancel", "1")
		resp, err := noRedirects().PostForm(e.base+"/"+LocalTenant+"/oauth2/v2.0/authorize", f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(resp.Header.Get("Location"))
		assert.Equal(t, "error", u.Query().Get("error"), "access_denied")
	})
	grant := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {testLoginClient},
			"redirect_uri": {redirect}, "code_verifier": {testVerifier}}
	}
	for _, tc := range []struct {
		name   string
		change func(url.Values)
		desc   string
	}{
		{"another client", func(f url.Values) { f.Set("client_id", "other") }, "another client"},
		{"another redirect", func(f url.Values) { f.Set("redirect_uri", "http://app.example/other") }, "redirect_uri"},
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", strings.Repeat("x", 50)) }, "does not match"},
		{"short verifier", func(f url.Values) { f.Set("code_verifier", "short") }, "43 to 128"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, "43 to 128"},
		{"unknown code", func(f url.Values) { f.Set("code", "nope") }, "unknown, used or expired"},
	} {
		t.Run("token: "+tc.name, func(t *testing.T) {
			code := signIn(t, e, authorizeQuery(redirect), "bob").Query().Get("code")
			f := grant(code)
			tc.change(f)
			status, body := redeem(t, e, f)
			assert.Equal(t, "status", status, http.StatusBadRequest)
			assert.Equal(t, "error", body["error"], any("invalid_grant"))
			assert.Contains(t, "description", body["error_description"].(string), tc.desc)
			_, ok := body["access_token"]
			assert.True(t, "no token", !ok)
			if f.Get("code") != code {
				return
			}
			// One wrong try spends the code.
			status, _ = redeem(t, e, grant(code))
			assert.Equal(t, "the right request after a wrong one", status, http.StatusBadRequest)
		})
	}
	t.Run("token: unknown grant", func(t *testing.T) {
		status, body := redeem(t, e, url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}})
		assert.Equal(t, "status", status, http.StatusBadRequest)
		assert.Equal(t, "error", body["error"], any("unsupported_grant_type"))
	})
}

func TestLoginCodesBoundedAndExpire(t *testing.T) {
	var lc loginCodes
	now := time.Now()
	for i := 0; i < maxLoginCodes; i++ {
		if _, ok := lc.add(loginCode{exp: now.Add(time.Minute)}, now); !ok {
			t.Fatalf("code %d refused", i)
		}
	}
	if _, ok := lc.add(loginCode{exp: now.Add(time.Minute)}, now); ok {
		t.Fatal("more pending codes than the bound")
	}
	later := now.Add(2 * time.Minute)
	code, ok := lc.add(loginCode{name: "x", exp: later.Add(time.Minute)}, later)
	assert.True(t, "expired codes make room", ok)
	assert.Equal(t, "pending after the sweep", len(lc.m), 1)
	if _, ok := lc.take(code, later.Add(2*time.Minute)); ok {
		t.Fatal("an expired code was redeemed")
	}
}

func TestLoginClientsValidated(t *testing.T) {
	for _, c := range []LoginClient{{ID: ""}, {ID: "x"}, {ID: "x", RedirectURIs: []string{"/relative"}}, {ID: "x", RedirectURIs: []string{"http://a/#frag"}}} {
		if _, err := New(Config{LoginClients: []LoginClient{c}}); err == nil {
			t.Errorf("New accepted login client %+v", c)
		}
	}
}

// TestLoginRefresh: a sign-in that asks for offline_access also gets a
// refresh token; it buys a new access token (same user, a full hour) and its
// successor once, for its own client only; without offline_access there is
// none. Refresh tokens stay out of the trace.
func TestLoginRefresh(t *testing.T) {
	e, redirect := loginEnv(t)
	code := func(scope string) string {
		q := authorizeQuery(redirect)
		q.Set("scope", scope)
		return signIn(t, e, q, "grace").Query().Get("code")
	}
	tokens := func(scope string) map[string]any {
		t.Helper()
		status, body := redeem(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code(scope)}, "client_id": {testLoginClient},
			"redirect_uri": {redirect}, "code_verifier": {testVerifier}})
		assert.Equal(t, "token status", status, http.StatusOK)
		return body
	}
	refresh := func(rt, client string) (int, map[string]any) {
		t.Helper()
		return redeem(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}})
	}

	if body := tokens("openid profile"); body["refresh_token"] != nil {
		t.Errorf("a refresh token without offline_access: %v", body)
	}
	first := tokens("openid profile offline_access")
	rt1, _ := first["refresh_token"].(string)
	assert.True(t, "a refresh token", len(rt1) >= 40)
	assert.Equal(t, "scope", first["scope"], any("openid profile chat offline_access"))

	status, second := refresh(rt1, testLoginClient)
	assert.Equal(t, "refresh status", status, http.StatusOK)
	rt2, _ := second["refresh_token"].(string)
	assert.True(t, "a successor", len(rt2) >= 40 && rt2 != rt1)
	assert.True(t, "a new access token", second["access_token"] != first["access_token"])
	v, err := oidc.New(oidc.Config{Issuer: Authority(e.base), Audiences: []string{testLoginClient}, Algorithms: []string{"RS256"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"id_token", "access_token"} {
		raw, _ := second[kind].(string)
		tok, err := v.Verify(context.Background(), raw)
		if err != nil {
			t.Fatalf("refreshed %s: %v", kind, err)
		}
		assert.Equal(t, kind+" sub", tok.Subject, "grace")
		assert.Equal(t, kind+" nonce", tok.String("nonce"), "")
		assert.True(t, kind+" expiry", time.Until(tok.Expiry) > 50*time.Minute)
	}

	status, body := refresh(rt1, testLoginClient)
	assert.Equal(t, "reused refresh token", [2]any{status, body["error"]}, [2]any{http.StatusBadRequest, any("invalid_grant")})
	status, body = refresh(rt2, "another-client")
	assert.Equal(t, "another client", [2]any{status, body["error"]}, [2]any{http.StatusBadRequest, any("invalid_grant")})
	status, _ = refresh(rt2, testLoginClient)
	assert.Equal(t, "after a wrong try the token is gone", status, http.StatusBadRequest)
	status, body = refresh("", testLoginClient)
	assert.Equal(t, "no token", [2]any{status, body["error"]}, [2]any{http.StatusBadRequest, any("invalid_grant")})

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.traces {
		for _, secret := range []string{rt1, rt2} {
			if strings.Contains(ev.Summary+ev.Detail, secret) {
				t.Errorf("trace %q shows a refresh token", ev.Summary)
			}
		}
	}
}
