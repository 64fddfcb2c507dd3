package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/internal/nodetest"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// startKeyless runs `wpsfn dev --keyless` until the test ends.
func startKeyless(t *testing.T, logs io.Writer) *devStack {
	t.Helper()
	t.Setenv("IDENTITY_ENDPOINT", "") // restored after the test; runDev sets them
	t.Setenv("IDENTITY_HEADER", "")
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&testWriter{t: t}, logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, stop := launchDevWith(t, devOptions{Keyless: true, Logger: log})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// devSignIn signs user in the way the chat page does, over plain HTTP: the
// emulator tenant's authorize form, then the code and its PKCE verifier
// for an access token.
func devSignIn(t *testing.T, st *devStack, user string) string {
	t.Helper()
	verifier := strings.Repeat("v", 20) + base64.RawURLEncoding.EncodeToString([]byte(user+"-verifier-padding"))
	sum := sha256.Sum256([]byte(verifier))
	redirect := st.BaseURL + "/"
	f := url.Values{"response_type": {"code"}, "client_id": {devLoginClient}, "redirect_uri": {redirect},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"s"}, "name": {user}}
	tenant := st.BaseURL + "/" + emulator.LocalTenant + "/oauth2/v2.0/"
	nr := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nr.PostForm(tenant+"authorize", f)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || back.Query().Get("code") == "" {
		t.Fatalf("sign-in as %s: %d to %q", user, resp.StatusCode, back.Redacted())
	}
	resp, err = http.PostForm(tenant+"token", url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"client_id": {devLoginClient}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token for %s: %d %v %s", user, resp.StatusCode, err, body.Error)
	}
	return body.AccessToken
}

// TestDevKeyless runs `wpsfn dev --keyless` once for all its subtests: MSAL
// keeps managed-identity tokens in a process-wide cache, so a second keyless
// stack in the same test binary would be handed the first one's tokens
// (signed by a key the new emulator never had).
//
// It checks the stack: the emulator with disableLocalAuth, every function on
// the emulator's managed identity (the real azidentity
// ManagedIdentityCredential) and upstream calls authenticated by Entra
// tokens only. Users sign in through the emulator
// tenant's authorization-code flow, connect through negotiate (which
// verifies their token; :generateToken), are greeted (REST), and chat
// (upstream, then REST).
func TestDevKeyless(t *testing.T) {
	var logs syncbuf.Buffer
	st := startKeyless(t, &logs)
	t.Run("go clients", func(t *testing.T) { testKeylessChat(t, st) })
	t.Run("negotiate refusals", func(t *testing.T) { testKeylessNegotiateRefusals(t, st) })
	t.Run("browser sign-in", func(t *testing.T) { testBrowserKeylessLogin(t, st) })
	t.Run("web-pubsub-client and the trace", func(t *testing.T) { testKeylessSDKTrace(t, st, true) })
	t.Run("banner", func(t *testing.T) { testKeylessBanner(t, st) })
	// Nothing logged (at debug level) holds a token.
	if jwtRE.MatchString(logs.String()) {
		t.Errorf("the logs show a token:\n%s", jwtRE.FindString(logs.String()))
	}
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ`)

// TestDevKeyedSDKTrace is the same SDK flow with keys: signed upstream
// calls, no bearer token.
func TestDevKeyedSDKTrace(t *testing.T) {
	st, stop := launchDev(t, "127.0.0.1:0", 0)
	defer stop()
	testKeylessSDKTrace(t, st, false)
}

// testKeylessSDKTrace chats through Microsoft's @azure/web-pubsub-client
// (test/keyless-client.js) and then reads the live trace: every event call
// is authenticated the way the mode says (keyless: a bearer token and no
// ce-signature; keyed: a ce-signature and no bearer token), and no token,
// key or signature shows anywhere in it.
func testKeylessSDKTrace(t *testing.T, st *devStack, keyless bool) {
	nodetest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw := nodetest.Run(ctx, t, nil, "keyless-client.js", negotiateURL(t, st, "sdk-a"), negotiateURL(t, st, "sdk-b"))
	var res struct {
		Acked     bool
		Connected []string
		From      string
		Text      string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("keyless-client.js: %v\n%s", err, raw)
	}
	assert.Equal(t, "connected", strings.Join(res.Connected, ","), "sdk-a,sdk-b")
	assert.Equal(t, "from", res.From, "sdk-a")
	assert.Equal(t, "text", res.Text, "hi from the SDK")
	assert.True(t, "acked", res.Acked)

	// The trace's history, then each upstream call's detail.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.BaseURL+"/trace/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 16<<20)
	var hist struct {
		Events []struct {
			ID uint64 `json:"id"`
			K  string `json:"k"`
			S  string `json:"s"`
			D  bool   `json:"d"`
		} `json:"events"`
	}
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			json.Unmarshal([]byte(d), &hist)
			break
		}
	}
	resp.Body.Close()
	secrets := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ|` + regexp.QuoteMeta(emulator.DefaultAccessKey) + `|sha256=[0-9a-f]{16,}`)
	upstream := 0
	for _, ev := range hist.Events {
		if secrets.MatchString(ev.S) {
			t.Errorf("trace summary shows a secret: %s", ev.S)
		}
		if !ev.D {
			continue
		}
		resp, err := http.Get(st.BaseURL + "/trace/events/" + strconv.FormatUint(ev.ID, 10))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if secrets.Match(b) {
			t.Errorf("trace detail of %q shows a secret:\n%s", ev.S, b)
		}
		if ev.K != "upstream" || !strings.Contains(string(b), "POST ") {
			continue
		}
		upstream++
		if keyless {
			assert.Contains(t, "keyless upstream call", string(b), "Signed: no")
			assert.Contains(t, "keyless upstream call", string(b), "Bearer: yes")
		} else {
			assert.Contains(t, "keyed upstream call", string(b), "Signed: yes")
			assert.Contains(t, "keyed upstream call", string(b), "Bearer: no")
		}
	}
	if upstream < 3 {
		t.Fatalf("%d upstream calls in the trace, want connect, connected and message at least", upstream)
	}
}

func testKeylessChat(t *testing.T, st *devStack) {
	alice, bob := dial(t, st, "alice"), dial(t, st, "bob")
	for _, c := range []*wsClient{alice, bob} {
		c.expect("connected", func(m map[string]any) bool { return m["type"] == "system" && m["event"] == "connected" })
		c.expect("welcome", func(m map[string]any) bool { return data(m)["type"] == "system" })
		c.send(map[string]any{"type": "joinGroup", "group": "lobby", "ackId": 1})
		if ack := c.expect("join ack", isAck(1)); ack["success"] != true {
			t.Fatalf("join: %v", ack)
		}
	}
	alice.send(map[string]any{"type": "event", "event": "message", "dataType": "json", "ackId": 2,
		"data": map[string]any{"room": "lobby", "text": "hello bob"}})
	got := bob.expect("alice's message", func(m map[string]any) bool { return data(m)["type"] == "message" })
	if d := data(got); d["from"] != "alice" || d["text"] != "hello bob" {
		t.Fatalf("bob received %v", got)
	}
	// Every step above needed the keyless chain: connect and message
	// accept only the emulator tenant's Entra token (the emulator sends no
	// ce-signature), the greeting and the room message went through REST with
	// the managed identity's token, negotiate through :generateToken.
	if st.ConnectionString != "" {
		t.Fatalf("keyless mode hands out a connection string: %q", st.ConnectionString)
	}
}

// testKeylessNegotiateRefusals: negotiate takes only the tenant's sign-in tokens.
func testKeylessNegotiateRefusals(t *testing.T, st *devStack) {
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "mallory", "aud": devLoginClient,
		"iss": emulator.Authority(st.BaseURL), "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("guessed-secret-guessed-secret"))
	for _, tc := range []struct{ name, query, auth, reason string }{
		{"a query user", "?userId=mallory", "", "unauthorized"},
		{"an HS256 token", "", "Bearer " + forged, ""},
		{"garbage", "", "Bearer not.a.jwt", ""},
	} {
		t.Run("negotiate refuses "+tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, st.BaseURL+"/negotiate"+tc.query, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			assert.Equal(t, "status", resp.StatusCode, http.StatusUnauthorized)
			_, hasURL := body["url"]
			assert.True(t, "no url", !hasURL)
		})
	}
}

// testBrowserKeylessLogin signs two users in on the chat page of `wpsfn dev
// --keyless` in headless Chromium (test/browser-login.js): the page
// redirects to the emulator's authorize form, comes back with a code,
// trades it (PKCE) for tokens, negotiates with the access token (no
// ?userId=), and the two chat; an expired access token is renewed with the
// refresh token on a reload.
func testBrowserKeylessLogin(t *testing.T, st *devStack) {
	requireChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw := nodetest.Run(ctx, t, nil, "browser-login.js", st.BaseURL)
	var res struct {
		AuthorizeURL  string
		AuthorizePage bool
		Whoami        []string
		Negotiate     []struct{ URL, Authorization string }
		Received      string
		AddressAfter  string
		ReloadKept    bool
		Refresh       struct {
			HadRefreshToken, NewToken, NegotiatedWithNew, Provider bool
			Grants                                                 []string
			User                                                   string
			FreshFor                                               int // minutes
		}
		Errors []string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("browser-login.js output: %v\n%s", err, raw)
	}
	au, err := url.Parse(res.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	assert.Equal(t, "authorize path", au.Path, "/"+emulator.LocalTenant+"/oauth2/v2.0/authorize")
	assert.Equal(t, "client_id", q.Get("client_id"), devLoginClient)
	assert.Equal(t, "code_challenge_method", q.Get("code_challenge_method"), "S256")
	assert.Equal(t, "code_challenge length", len(q.Get("code_challenge")), 43)
	assert.True(t, "state and nonce", q.Get("state") != "" && q.Get("nonce") != "")
	assert.True(t, "the authorize page asked for a name", res.AuthorizePage)
	assert.Equal(t, "whoami", strings.Join(res.Whoami, ","), "ada,grace")
	assert.Equal(t, "grace received", res.Received, "hello from ada")
	assert.True(t, "the code left the address bar", !strings.Contains(res.AddressAfter, "code="))
	assert.True(t, "a reload keeps the session", res.ReloadKept)
	assert.True(t, "scope asks for offline_access", strings.Contains(q.Get("scope"), "offline_access"))
	rf := res.Refresh
	assert.True(t, "the sign-in kept a refresh token", rf.HadRefreshToken)
	assert.Equal(t, "token requests after the access token expired", rf.Grants, []string{"refresh_token"})
	assert.Equal(t, "user after the refresh", rf.User, "grace")
	assert.True(t, "a new access token, good for the hour", rf.NewToken && rf.FreshFor >= 55)
	assert.True(t, "negotiate used the new token", rf.NegotiatedWithNew)
	assert.True(t, "no provider page for the refresh", !rf.Provider)
	if len(res.Negotiate) < 2 {
		t.Fatalf("negotiate requests %v", res.Negotiate)
	}
	for _, n := range res.Negotiate {
		if strings.Contains(n.URL, "userId") || !strings.HasPrefix(n.Authorization, "Bearer ey") {
			t.Errorf("negotiate request %q with Authorization %.12q…, want a bearer token and no userId", n.URL, n.Authorization)
		}
	}
	if len(res.Errors) > 0 {
		t.Errorf("page errors: %v", res.Errors)
	}
}

// testKeylessBanner pastes the keyless banner's export lines: no connection
// string (no key works there), and what they set gets a managed-identity
// token from the emulator, as azidentity would.
func testKeylessBanner(t *testing.T, st *devStack) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	var banner bytes.Buffer
	printDevBanner(&banner, st, 0)
	if strings.Contains(banner.String(), "CONNECTION_STRING") {
		t.Errorf("the keyless banner offers a connection string:\n%s", banner.String())
	}
	var exports, tries []string
	inTry := false
	for _, raw := range strings.Split(banner.String(), "\n") {
		l := strings.TrimSpace(raw)
		if rest, ok := strings.CutPrefix(l, "Try:"); ok {
			inTry, l = true, strings.TrimSpace(rest)
		} else if inTry && !strings.HasPrefix(raw, "        ") {
			inTry = false
		}
		switch {
		case strings.HasPrefix(l, "export "):
			exports = append(exports, l)
		case inTry:
			tries = append(tries, strings.Replace(l, "curl ", "curl --fail-with-body -sS ", 1))
		}
	}
	// The Try lines work keyless too: the functions call REST with the
	// managed identity.
	if len(tries) != 2 {
		t.Errorf("keyless banner's Try lines: %q", tries)
	}
	for _, try := range tries {
		if out, err := checkShell(t.TempDir(), nil, try); err != nil {
			t.Errorf("keyless banner: %v\n%s", err, out)
		}
	}
	script := strings.Join(exports, "\n") + `
test "$WEBPUBSUB_ENDPOINT" = "` + st.BaseURL + `"
test "$WEBPUBSUB_HUB" = chat
curl -fsS -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?resource=https://webpubsub.azure.com&api-version=2019-08-01"
`
	out, err := checkShell(t.TempDir(), []string{"IDENTITY_ENDPOINT=", "IDENTITY_HEADER=", "WEBPUBSUB_ENDPOINT=", "WEBPUBSUB_HUB="}, script)
	if err != nil || !strings.Contains(out, `"access_token":"ey`) {
		t.Errorf("the keyless banner's lines, pasted: %v\n%s", err, out)
	}
}
