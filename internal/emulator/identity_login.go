package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The local tenant's sign-in: a small OpenID Connect authorization-code
// flow with PKCE (S256 only), for pages that sign users in the way they
// would with Entra ID, Auth0 or Cognito, offline. The authorize endpoint
// shows a form asking for a name (no password: it is a development
// tenant, anyone may be anyone), and redirects back with a one-time code;
// the token endpoint (identity_token.go) trades the code and its verifier
// for an RS256 ID token and access token whose sub is the name and whose
// aud is the client id, signed with the tenant's current key.

// LoginClient is an application registered with the local tenant's sign-in:
// a public client (no secret), so PKCE is required.
type LoginClient struct {
	// ID is the client_id, and the audience of the tokens it gets.
	ID string
	// RedirectURIs are the redirect_uri values allowed, compared exactly.
	RedirectURIs []string
}

const (
	loginCodeTTL = time.Minute
	// refreshTTL is a refresh token's life: a working day of a chat tab
	// signed in once. Each is good for one refresh (rotated), like Entra's
	// for single-page apps.
	refreshTTL     = 24 * time.Hour
	maxLoginCodes  = 1024 // pending codes; more are refused until some are used or expire
	maxLoginName   = 64   // characters
	maxLoginParam  = 512  // bytes of state, nonce, code_challenge
	loginCodeBytes = 32
)

// loginCode is what a code stands for until it is redeemed once.
type loginCode struct {
	client, redirect, challenge, nonce, name string
	offline                                  bool // scope offline_access: a refresh token too
	exp                                      time.Time
}

// loginCodes are the pending codes, bounded in count (each entry is bounded
// in bytes by the parameter limits).
type loginCodes struct {
	mu sync.Mutex
	m  map[string]loginCode
}

// add stores c under a new code, or reports false when too many are pending.
func (lc *loginCodes) add(c loginCode, now time.Time) (string, bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.m == nil {
		lc.m = map[string]loginCode{}
	}
	if len(lc.m) >= maxLoginCodes {
		for k, v := range lc.m {
			if now.After(v.exp) {
				delete(lc.m, k)
			}
		}
		if len(lc.m) >= maxLoginCodes {
			return "", false
		}
	}
	var b [loginCodeBytes]byte
	rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	lc.m[code] = c
	return code, true
}

// take removes and returns code's entry: a code is good for one attempt,
// right or wrong.
func (lc *loginCodes) take(code string, now time.Time) (loginCode, bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	c, ok := lc.m[code]
	delete(lc.m, code)
	if !ok || now.After(c.exp) {
		return loginCode{}, false
	}
	return c, true
}

// authorizeRequest is an authorization request's parameters.
type authorizeRequest struct {
	ResponseType, ClientID, RedirectURI, Challenge, Method, State, Nonce, Scope string
}

func readAuthorize(v url.Values) authorizeRequest {
	return authorizeRequest{ResponseType: v.Get("response_type"), ClientID: v.Get("client_id"),
		RedirectURI: v.Get("redirect_uri"), Challenge: v.Get("code_challenge"), Method: v.Get("code_challenge_method"),
		State: v.Get("state"), Nonce: v.Get("nonce"), Scope: v.Get("scope")}
}

// loginClient returns the registered client of ar, or why there is none.
// Without a registered client and redirect URI nothing may be redirected to.
func (s *Server) loginClient(ar authorizeRequest) (LoginClient, string) {
	i := slices.IndexFunc(s.cfg.LoginClients, func(c LoginClient) bool { return c.ID == ar.ClientID })
	switch {
	case ar.ClientID == "":
		return LoginClient{}, "client_id is required"
	case i < 0:
		return LoginClient{}, "client_id is not a client of this tenant"
	case !slices.Contains(s.cfg.LoginClients[i].RedirectURIs, ar.RedirectURI):
		return LoginClient{}, "redirect_uri is not registered for this client"
	}
	return s.cfg.LoginClients[i], ""
}

// check returns the OAuth error code and description of a request from a
// registered client that cannot go on, or "".
func (ar authorizeRequest) check() (code, desc string) {
	switch {
	case ar.ResponseType != "code":
		return "unsupported_response_type", "response_type must be code"
	case ar.Method != "S256":
		return "invalid_request", "PKCE is required: code_challenge_method must be S256"
	case len(ar.Challenge) != 43 || strings.Trim(ar.Challenge, base64URLChars) != "":
		return "invalid_request", "code_challenge must be the base64url SHA-256 of the code verifier (43 characters)"
	case len(ar.State) > maxLoginParam || len(ar.Nonce) > maxLoginParam || len(ar.Scope) > maxLoginParam:
		return "invalid_request", "state, nonce and scope are limited to 512 bytes"
	}
	return "", ""
}

const base64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// redirectBack sends the browser to the client's redirect URI with params.
func redirectBack(w http.ResponseWriter, r *http.Request, ar authorizeRequest, params url.Values) {
	u, _ := url.Parse(ar.RedirectURI) // registered, so valid
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if ar.State != "" {
		q.Set("state", ar.State)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// serveAuthorize shows the sign-in form (GET) and, when it is sent back
// (POST), redirects to the client with a code.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.loginPage(w, http.StatusBadRequest, authorizeRequest{}, "", "The request could not be read.")
		return
	}
	ar := readAuthorize(r.Form)
	if _, why := s.loginClient(ar); why != "" {
		s.trace(TraceEvent{Kind: TraceREST, Summary: "sign-in refused: " + why, Status: http.StatusBadRequest})
		s.loginPage(w, http.StatusBadRequest, authorizeRequest{}, "", "This sign-in request cannot be served: "+why+".")
		return
	}
	if code, desc := ar.check(); code != "" {
		s.trace(TraceEvent{Kind: TraceREST, Summary: "sign-in refused: " + desc, Status: http.StatusFound})
		redirectBack(w, r, ar, url.Values{"error": {code}, "error_description": {desc}})
		return
	}
	if r.Method == http.MethodGet {
		s.loginPage(w, http.StatusOK, ar, "", "")
		return
	}
	if r.PostForm.Get("cancel") != "" {
		redirectBack(w, r, ar, url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled the sign-in"}})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if why := checkLoginName(name); why != "" {
		s.loginPage(w, http.StatusBadRequest, ar, name, why)
		return
	}
	now := time.Now()
	code, ok := s.id.codes.add(loginCode{client: ar.ClientID, redirect: ar.RedirectURI, challenge: ar.Challenge,
		nonce: ar.Nonce, name: name, offline: slices.Contains(strings.Fields(ar.Scope), "offline_access"), exp: now.Add(loginCodeTTL)}, now)
	if !ok {
		redirectBack(w, r, ar, url.Values{"error": {"temporarily_unavailable"}, "error_description": {"too many sign-ins are pending"}})
		return
	}
	s.trace(TraceEvent{Kind: TraceREST, Summary: "sign-in as " + name + " for " + ar.ClientID + " → code", Status: http.StatusFound})
	redirectBack(w, r, ar, url.Values{"code": {code}})
}

// checkLoginName returns why name cannot be a user's name, or "".
func checkLoginName(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "Enter a name: it cannot be empty or only spaces."
	case n > maxLoginName || !utf8.ValidString(name):
		return "The name is limited to 64 characters."
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) }) >= 0:
		return "The name cannot hold control characters."
	}
	return ""
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · wpsfn local tenant</title><link rel="icon" href="data:,">
<style>body{font:16px system-ui,sans-serif;background:#f4f5f7;margin:0;display:grid;place-items:center;min-height:100vh}
form{background:#fff;padding:2rem;border-radius:10px;box-shadow:0 2px 10px #0002;width:min(22rem,90vw)}
input[type=text]{width:100%;box-sizing:border-box;padding:.6rem;font:inherit;margin:.5rem 0 1rem}
button{font:inherit;padding:.5rem 1rem}.err{color:#b00020}.muted{color:#666;font-size:.9em}</style></head>
<body><form method="post" autocomplete="off">
<h1>Sign in</h1>
{{if .Error}}<p class="err" id="error" role="alert">{{.Error}}</p>{{end}}
{{if .Req.ClientID}}<p class="muted">to <b>{{.Req.ClientID}}</b> on the emulator's local tenant. Any name is accepted: this tenant is for development only.</p>
<label for="name">Name</label>
<input type="text" id="name" name="name" value="{{.Name}}" maxlength="64" autofocus required>
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<button type="submit" id="signin">Sign in</button> <button type="submit" name="cancel" value="1" formnovalidate>Cancel</button>{{end}}
</form></body></html>
`))

// loginPage renders the sign-in form for ar (none when ar has no client).
func (s *Server) loginPage(w http.ResponseWriter, status int, ar authorizeRequest, name, msg string) {
	hidden := map[string]string{"response_type": ar.ResponseType, "client_id": ar.ClientID, "redirect_uri": ar.RedirectURI,
		"code_challenge": ar.Challenge, "code_challenge_method": ar.Method, "state": ar.State, "nonce": ar.Nonce, "scope": ar.Scope}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	loginTemplate.Execute(w, map[string]any{"Req": ar, "Name": name, "Error": msg, "Hidden": hidden})
}

// redeemCode answers the authorization_code grant: the code, once, for the
// client and redirect URI it was issued to, with the verifier of its
// challenge.
func (s *Server) redeemCode(w http.ResponseWriter, r *http.Request, f url.Values) {
	now := time.Now()
	c, ok := s.id.codes.take(f.Get("code"), now)
	verifier := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	switch {
	case !ok:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used or expired")
		return
	case f.Get("client_id") != c.client:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	case f.Get("redirect_uri") != c.redirect:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri is not the one the code was issued for")
		return
	case len(verifier) < 43 || len(verifier) > 128:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier must have 43 to 128 characters")
		return
	case subtle.ConstantTimeCompare([]byte(challenge), []byte(c.challenge)) != 1:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	s.userTokens(w, r, c, "authorization code")
}

// redeemRefresh answers the refresh_token grant: the token, once, for the
// client it was issued to; the answer carries its successor.
func (s *Server) redeemRefresh(w http.ResponseWriter, r *http.Request, f url.Values) {
	c, ok := s.id.refresh.take(f.Get("refresh_token"), time.Now())
	switch {
	case !ok:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is unknown, used or expired")
		return
	case f.Get("client_id") != c.client:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client")
		return
	}
	c.nonce = "" // an ID token from a refresh answers no authorization request
	s.userTokens(w, r, c, "refresh")
}

// userTokens answers a grant for c's user: an ID token, an access token and,
// when the sign-in asked for offline_access, a new refresh token.
func (s *Server) userTokens(w http.ResponseWriter, r *http.Request, c loginCode, grant string) {
	now := time.Now()
	p, err := s.provider()
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "the tenant has no signing key")
		return
	}
	// The configured URL when there is one, so a page reached under another
	// name (127.0.0.1 for localhost) gets tokens of the issuer its API trusts.
	base := s.cfg.URL
	if base == "" {
		base = baseURL(r)
	}
	iss := Authority(base)
	exp := now.Add(localTokenTTL)
	user := jwt.MapClaims{"iss": iss, "aud": c.client, "sub": c.name, "name": c.name, "preferred_username": c.name,
		"tid": LocalTenant, "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "ver": "2.0"}
	id := jwt.MapClaims{"nonce": c.nonce}
	// uti, a token's own id as Entra's carry, tells apart tokens minted in
	// the same second for the same user (a refresh right after a sign-in).
	access := jwt.MapClaims{"azp": c.client, "scp": "chat", "idtyp": "user", "uti": s.newID()}
	for k, v := range user {
		id[k], access[k] = v, v
	}
	if c.nonce == "" {
		delete(id, "nonce")
	}
	idTok, err := p.Mint(id)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "minting failed")
		return
	}
	accessTok, err := p.Mint(access)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "minting failed")
		return
	}
	answer := map[string]any{"token_type": "Bearer", "access_token": accessTok, "id_token": idTok,
		"expires_in": int64(localTokenTTL / time.Second), "scope": "openid profile chat"}
	if c.offline {
		rc := c
		rc.exp = now.Add(refreshTTL)
		// Bounded like the codes; when full, the answer has no refresh
		// token and the page signs in again when the access token ends.
		if rt, ok := s.id.refresh.add(rc, now); ok {
			answer["refresh_token"] = rt
			answer["scope"] = "openid profile chat offline_access"
		}
	}
	s.trace(TraceEvent{Kind: TraceREST, Summary: "token for " + c.name + " (" + grant + ", " + c.client + ") → 200", Status: 200})
	tokenAnswer(w, answer)
}

// validateLoginClients checks the registered clients: an id and absolute
// http(s) redirect URIs without a fragment.
func validateLoginClients(cs []LoginClient) error {
	for i, c := range cs {
		if c.ID == "" || len(c.RedirectURIs) == 0 {
			return fmt.Errorf("emulator: login client %d: ID and RedirectURIs are required", i+1)
		}
		for _, ru := range c.RedirectURIs {
			u, err := url.Parse(ru)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
				return fmt.Errorf("emulator: login client %q: redirect URI %q is not an absolute http(s) URL without a fragment", c.ID, ru)
			}
		}
	}
	return nil
}
