package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

const cliTestKey = "cli-test-key-0123456789abcdefghijklmnopqrstu="

type cliRequest struct {
	Method, Path, Query, ContentType, Body, Auth string
}

// cliService is a stand-in Web PubSub REST endpoint that records requests
// and answers with status (202 for sends by default).
type cliService struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []cliRequest
	status int
}

func newCLIService(t *testing.T) *cliService {
	s := &cliService{status: http.StatusAccepted}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		path, query, _ := strings.Cut(r.RequestURI, "?")
		s.mu.Lock()
		s.reqs = append(s.reqs, cliRequest{r.Method, path, query, r.Header.Get("Content-Type"), string(body), r.Header.Get("Authorization")})
		status := s.status
		s.mu.Unlock()
		if status >= 400 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, `{"code":"Forbidden","message":"no access"}`)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *cliService) connStr() string {
	return "Endpoint=" + s.srv.URL + ";AccessKey=" + cliTestKey + ";Version=1.0;"
}

func (s *cliService) requests() []cliRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]cliRequest(nil), s.reqs...)
}

// runCLI runs `wpsfn args...` with only the given environment variables.
func runCLI(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old := wpsEnviron
	wpsEnviron = func() []string { return environ }
	defer func() { wpsEnviron = old }()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func assertOneLine(t *testing.T, s string, secrets ...string) {
	t.Helper()
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("want exactly one line, got %q", s)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("output %q contains a secret", s)
		}
	}
}

func TestTokenCommand(t *testing.T) {
	svc := newCLIService(t)
	environ := []string{"WEBPUBSUB_CONNECTION_STRING=" + svc.connStr(), "WEBPUBSUB_HUB=chat"}

	code, out, errOut := runCLI(t, environ, "token", "--user", "alice", "--role", wps.RoleJoinLeaveGroup("room 1"),
		"--role", wps.RoleSendToGroupAny, "--group", "room 1", "--group", "lobby", "--expiry", "10m")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	assertOneLine(t, out)
	url := strings.TrimSpace(out)
	base := "ws" + strings.TrimPrefix(svc.srv.URL, "http") + "/client/hubs/chat"
	tok, ok := strings.CutPrefix(url, base+"?access_token=")
	if !ok {
		t.Fatalf("URL %q does not start with %q", url, base)
	}
	claims := &wps.ClientClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(cliTestKey), nil },
		jwt.WithAudience(svc.srv.URL+"/client/hubs/chat"), jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("token: %v", err)
	}
	if claims.Subject != "alice" || strings.Join(claims.Roles, ",") != "webpubsub.joinLeaveGroup.room 1,webpubsub.sendToGroup" ||
		strings.Join(claims.Groups, ",") != "room 1,lobby" || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != 10*time.Minute {
		t.Errorf("claims %+v", claims)
	}
	if n := len(svc.requests()); n != 0 {
		t.Errorf("a key-signed token made %d requests", n)
	}

	code, out, _ = runCLI(t, environ, "token", "--json", "--protocol", "mqtt")
	var j map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j["baseUrl"] != "ws"+strings.TrimPrefix(svc.srv.URL, "http")+"/clients/mqtt/hubs/chat" ||
		j["url"] != j["baseUrl"]+"?access_token="+j["token"] {
		t.Errorf("--json: exit %d, %q", code, out)
	}
}

func TestTokenAndSendBadConfiguration(t *testing.T) {
	svc := newCLIService(t)
	good := svc.connStr()
	cases := []struct {
		name    string
		environ []string
		args    []string
		want    string
	}{
		{"no connection string", []string{"WEBPUBSUB_HUB=chat"}, nil, "WEBPUBSUB_CONNECTION_STRING is not set"},
		{"empty hub", []string{"WEBPUBSUB_CONNECTION_STRING=" + good, "WEBPUBSUB_HUB="}, nil, "WEBPUBSUB_HUB is empty"},
		{"no hub", []string{"WEBPUBSUB_CONNECTION_STRING=" + good}, nil, "WEBPUBSUB_HUB is not set"},
		{"no key", []string{"WEBPUBSUB_CONNECTION_STRING=Endpoint=http://127.0.0.1:1;Version=1.0;", "WEBPUBSUB_HUB=chat"}, nil, "WEBPUBSUB_CONNECTION_STRING: wps: connection string: AccessKey is missing"},
		{"bad endpoint", []string{"WEBPUBSUB_CONNECTION_STRING=Endpoint=localhost;AccessKey=" + cliTestKey, "WEBPUBSUB_HUB=chat"}, nil, "WEBPUBSUB_CONNECTION_STRING: wps: connection string: Endpoint"},
		{"bad hub", []string{"WEBPUBSUB_CONNECTION_STRING=" + good, "WEBPUBSUB_HUB=my hub"}, nil, `WEBPUBSUB_HUB "my hub" is not a valid hub name`},
		{"bad flag", []string{"WEBPUBSUB_CONNECTION_STRING=" + good, "WEBPUBSUB_HUB=chat"}, []string{"--nope"}, "unknown flag --nope"},
	}
	for _, tc := range cases {
		for _, cmd := range [][]string{{"token"}, {"send", "--to", "all", "--text", "x"}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				code, out, errOut := runCLI(t, tc.environ, append(cmd, tc.args...)...)
				if code != 2 || out != "" {
					t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("stderr %q, want it to say %q", errOut, tc.want)
				}
				if tc.name != "bad flag" {
					assertOneLine(t, errOut, cliTestKey)
				}
			})
		}
	}
	if n := len(svc.requests()); n != 0 {
		t.Errorf("%d requests made with bad configuration", n)
	}
}
