package negotiate

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/functions/internal/wpsrec"
)

const appSecret = "app-secret-0123456789abcdef"

func newNegotiate(t *testing.T, mod func(*Config)) (http.Handler, *wpsrec.Recorder, *bytes.Buffer) {
	t.Helper()
	rec := wpsrec.New(t)
	logs := &bytes.Buffer{}
	cfg, err := LoadConfigFrom(map[string]string{"WEBPUBSUB_CONNECTION_STRING": rec.ConnectionString(), "WEBPUBSUB_HUB": "chat",
		"NEGOTIATE_JWT_SECRET": appSecret, "NEGOTIATE_JWT_AUDIENCE": "chat-app", "NEGOTIATE_JWT_ISSUER": "https://login.example",
		"NEGOTIATE_ROLES": "webpubsub.joinLeaveGroup,webpubsub.sendToGroup.lobby", "NEGOTIATE_GROUPS": "lobby", "NEGOTIATE_TOKEN_LIFETIME": "30m"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, logs
}

func appToken(t *testing.T, method jwt.SigningMethod, key any, edit func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "aud": "chat-app", "iss": "https://login.example", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(h http.Handler, target string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkAnswer verifies a negotiate answer: the URL, and the client token's
// signature (with the access key), audience, user, roles, groups and lifetime.
func checkAnswer(t *testing.T, rec *wpsrec.Recorder, w *httptest.ResponseRecorder, user string, roles, groups []string, life time.Duration) {
	t.Helper()
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("answer %d %v %s", w.Code, w.Header(), w.Body)
	}
	var res Response
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	base := "ws" + strings.TrimPrefix(rec.URL(), "http") + "/client/hubs/chat"
	if res.BaseURL != base || res.URL != base+"?access_token="+url.QueryEscape(res.Token) {
		t.Fatalf("urls %+v, base %s", res, base)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(rec.URL()+"/client/hubs/chat"), jwt.WithExpirationRequired()).
		ParseWithClaims(res.Token, claims, func(*jwt.Token) (any, error) { return []byte(wpsrec.AccessKey), nil }); err != nil {
		t.Fatalf("client token: %v", err)
	}
	sub, _ := claims.GetSubject()
	exp, _ := claims.GetExpirationTime()
	iat, _ := claims.GetIssuedAt()
	if sub != user || exp.Sub(iat.Time) != life || strs(claims["role"]) != strings.Join(roles, ",") || strs(claims["webpubsub.group"]) != strings.Join(groups, ",") {
		t.Fatalf("claims %v", claims)
	}
}

func strs(v any) string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, s := range v {
			out = append(out, s.(string))
		}
	case string:
		out = append(out, v)
	}
	return strings.Join(out, ",")
}

func TestNegotiateJWT(t *testing.T) {
	h, rec, logs := newNegotiate(t, nil)
	tok := appToken(t, jwt.SigningMethodHS256, []byte(appSecret), nil)
	w := get(h, "/api/negotiate?userId=mallory", map[string]string{"Authorization": "Bearer " + tok})
	checkAnswer(t, rec, w, "alice", []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.lobby"}, []string{"lobby"}, 30*time.Minute)
	if n := len(rec.Requests()); n != 0 {
		t.Fatalf("a key signs locally; %d REST calls made", n)
	}
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), appSecret) || strings.Contains(logs.String(), "access_token") {
		t.Fatalf("logs leak a token:\n%s", logs)
	}
}

func TestNegotiateRefuses(t *testing.T) {
	h, _, _ := newNegotiate(t, nil)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "aud": "chat-app", "iss": "https://login.example", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	cases := []struct {
		name, target, auth string
		status             int
		reason             string
	}{
		{"query user not enabled", "/?userId=alice", "", 401, "missing Authorization header"},
		{"expired", "/", appToken(t, jwt.SigningMethodHS256, []byte(appSecret), func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401, "token expired"},
		{"alg none", "/", none, 401, "token signature or algorithm invalid (HS256 expected)"},
		{"wrong secret", "/", appToken(t, jwt.SigningMethodHS256, []byte("not-the-app-secret-0123"), nil), 401, "token signature or algorithm invalid (HS256 expected)"},
		{"wrong aud", "/", appToken(t, jwt.SigningMethodHS256, []byte(appSecret), func(c jwt.MapClaims) { c["aud"] = "broadcast" }), 401, "token audience not accepted"},
		{"wrong iss", "/", appToken(t, jwt.SigningMethodHS256, []byte(appSecret), func(c jwt.MapClaims) { c["iss"] = "evil" }), 401, "token issuer not accepted"},
		{"no sub", "/", appToken(t, jwt.SigningMethodHS256, []byte(appSecret), func(c jwt.MapClaims) { delete(c, "sub") }), 401, "token has no sub claim"},
		{"control sub", "/", appToken(t, jwt.SigningMethodHS256, []byte(appSecret), func(c jwt.MapClaims) { c["sub"] = "a\nb" }), 401, "token user id holds a control character"},
	}
	for _, c := range cases {
		hdr := map[string]string{}
		if c.auth != "" {
			hdr["Authorization"] = "Bearer " + c.auth
		}
		w := get(h, c.target, hdr)
		var e struct{ Error string }
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != c.status || e.Error != c.reason {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, e.Error, c.status, c.reason)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodDelete} {
		r := httptest.NewRequest(m, "/", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, OPTIONS" {
			t.Errorf("%s: %d Allow=%q", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestNegotiateQueryUser(t *testing.T) {
	h, rec, _ := newNegotiate(t, func(c *Config) { c.AllowQueryUser, c.JWTSecret, c.Roles, c.Groups = true, "", nil, nil })
	w := get(h, "/api/negotiate?userId="+url.QueryEscape("o'brien ä"), nil)
	checkAnswer(t, rec, w, "o'brien ä", nil, nil, 30*time.Minute)
	for _, c := range []struct{ target, reason string }{
		{"/", "userId query parameter is required"},
		{"/?userId=", "userId is empty"},
		{"/?userId=a&userId=b", "userId query parameter is given more than once"},
		{"/?userId=%00", "userId holds a control character"},
		{"/?userId=%ff", "userId is not valid UTF-8"},
		{"/?userId=" + strings.Repeat("u", 257), "userId is longer than 256 bytes"},
	} {
		w := get(h, c.target, nil)
		var e struct{ Error string }
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != 400 || e.Error != c.reason {
			t.Errorf("%.40s: %d %q, want 400 %q", c.target, w.Code, e.Error, c.reason)
		}
	}
	// Without a JWT secret, a bearer token cannot be checked: refused, not ignored.
	if w := get(h, "/?userId=alice", map[string]string{"Authorization": "Bearer x.y.z"}); w.Code != 401 {
		t.Errorf("bearer without secret: %d", w.Code)
	}
	// With both configured, the JWT wins over the query.
	h2, rec2, _ := newNegotiate(t, func(c *Config) { c.AllowQueryUser = true })
	w = get(h2, "/?userId=mallory", map[string]string{"Authorization": "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte(appSecret), nil)})
	checkAnswer(t, rec2, w, "alice", []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.lobby"}, []string{"lobby"}, 30*time.Minute)
	if w := get(h2, "/?userId=bob", nil); w.Code != 200 {
		t.Errorf("query user with both: %d", w.Code)
	}
}

func TestNegotiateCORS(t *testing.T) {
	h, _, _ := newNegotiate(t, func(c *Config) { c.AllowQueryUser = true; c.AllowedOrigins = []string{"http://localhost:3000"} })
	pre := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, "/", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "GET")
		r.Header.Set("Access-Control-Request-Headers", "authorization")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := pre("http://localhost:3000")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") || w.Header().Get("Vary") != "Origin" {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}
	if w := pre("http://evil.example"); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", w.Code, w.Header())
	}
	w = get(h, "/?userId=alice", map[string]string{"Origin": "http://localhost:3000"})
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Fatalf("get: %d %v", w.Code, w.Header())
	}
	if w = get(h, "/?userId=alice", map[string]string{"Origin": "http://evil.example"}); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin got CORS headers: %v", w.Header())
	}
	any, _, _ := newNegotiate(t, func(c *Config) { c.AllowQueryUser = true; c.AllowedOrigins = []string{"*"} })
	if w = get(any, "/?userId=alice", map[string]string{"Origin": "http://a.example"}); w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("wildcard: %v", w.Header())
	}
	none, _, _ := newNegotiate(t, func(c *Config) { c.AllowQueryUser = true })
	if w = get(none, "/?userId=alice", map[string]string{"Origin": "http://a.example"}); w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "" {
		t.Fatalf("no CORS configured: %v", w.Header())
	}
}
