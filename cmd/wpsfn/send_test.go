package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/functions/relay"
)

func TestSendCommand(t *testing.T) {
	svc := newCLIService(t)
	environ := []string{"WEBPUBSUB_CONNECTION_STRING=" + svc.connStr(), "WEBPUBSUB_HUB=chat"}
	bin := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(bin, []byte{0, 1, 2, 255}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want cliRequest
		out  string
	}{
		{[]string{"--to", "group:room 1", "--json", `{"a": [1, 2]}`, "--exclude", "c1", "--exclude", "c 2", "--filter", "userId ne 'o''b'", "--ttl", "30s"},
			cliRequest{"POST", "/api/hubs/chat/groups/room%201/:send", "api-version=2024-12-01&excluded=c1&excluded=c%202&filter=userId%20ne%20%27o%27%27b%27&messageTtlSeconds=30", "application/json", `{"a":[1,2]}`, ""},
			"sent 11 bytes (application/json) to group:room 1\n"},
		{[]string{"--to", "user:alice", "--text", "hi there"},
			cliRequest{"POST", "/api/hubs/chat/users/alice/:send", "api-version=2024-12-01", "text/plain", "hi there", ""},
			"sent 8 bytes (text/plain) to user:alice\n"},
		{[]string{"--to", "connection:c/1", "--binary-file", bin},
			cliRequest{"POST", "/api/hubs/chat/connections/c%2F1/:send", "api-version=2024-12-01", "application/octet-stream", "\x00\x01\x02\xff", ""},
			"sent 4 bytes (application/octet-stream) to connection:c/1\n"},
		{[]string{"--to", "all", "--text", ""},
			cliRequest{"POST", "/api/hubs/chat/:send", "api-version=2024-12-01", "text/plain", "", ""},
			"sent 0 bytes (text/plain) to all\n"},
	}
	for _, tc := range cases {
		before := len(svc.requests())
		code, out, errOut := runCLI(t, environ, append([]string{"send"}, tc.args...)...)
		if code != 0 || errOut != "" || out != tc.out {
			t.Errorf("send %q: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
			continue
		}
		reqs := svc.requests()[before:]
		if len(reqs) != 1 {
			t.Fatalf("send %q made %d requests", tc.args, len(reqs))
		}
		got := reqs[0]
		if !strings.HasPrefix(got.Auth, "Bearer ") {
			t.Errorf("Authorization %q", got.Auth)
		}
		got.Auth = ""
		if got != tc.want {
			t.Errorf("send %q sent\n %+v\nwant\n %+v", tc.args, got, tc.want)
		}
	}

	// Usage errors: exit 2, one line, nothing sent.
	before := len(svc.requests())
	for _, args := range [][]string{
		{"--text", "x"},
		{"--to", "everyone", "--text", "x"},
		{"--to", "user:", "--text", "x"},
		{"--to", "all"},
		{"--to", "all", "--text", "x", "--json", "{}"},
		{"--to", "all", "--json", "{nope"},
		{"--to", "all", "--binary-file", filepath.Join(t.TempDir(), "missing")},
		{"--to", "user:u", "--text", "x", "--exclude", "c"},
		{"--to", "connection:c", "--text", "x", "--filter", "userId eq 'a'"},
		{"--to", "all", "--text", "x", "--ttl", "10m"},
	} {
		code, out, errOut := runCLI(t, environ, append([]string{"send"}, args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "wpsfn send: ") {
			t.Errorf("send %q: exit %d, stdout %q, stderr %q; want 2 with a message", args, code, out, errOut)
		}
		assertOneLine(t, errOut, cliTestKey)
	}
	if n := len(svc.requests()) - before; n != 0 {
		t.Errorf("usage errors made %d requests", n)
	}

	// The service refuses: exit 1, its reason, no secrets.
	svc.mu.Lock()
	svc.status = http.StatusForbidden
	svc.mu.Unlock()
	code, out, errOut := runCLI(t, environ, "send", "--to", "all", "--text", "x")
	if code != 1 || out != "" || !strings.Contains(errOut, "403 Forbidden: Forbidden: no access") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	assertOneLine(t, errOut, cliTestKey)
}

// TestSendEnvelope: --envelope prints the relay's JSON (no connection
// string needed, nothing sent), which the relay accepts as it is.
func TestSendEnvelope(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(bin, []byte{0, 1, 2, 255}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		out  string
	}{
		{"json to a group with options", []string{"--to", "group:orders", "--json", `{"order": 42}`, "--ttl", "1500ms", "--exclude", "c1", "--filter", "userId ne 'bob'"},
			`{"to":"group","id":"orders","json":{"order":42},"ttl":2,"filter":"userId ne 'bob'","excluded":["c1"]}`},
		{"text to all", []string{"--to", "all", "--text", `say "hi"`}, `{"to":"all","text":"say \"hi\""}`},
		{"empty text", []string{"--to", "user:alice", "--text", ""}, `{"to":"user","id":"alice","text":""}`},
		{"binary to a connection", []string{"--to", "connection:c/1", "--binary-file", bin}, `{"to":"connection","id":"c/1","binary":"AAEC/w=="}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, append([]string{"send", "--envelope"}, c.args...)...)
			if code != 0 || errOut != "" || out != c.out+"\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %s", code, out, errOut, c.out)
			}
			if err := relay.CheckEnvelope([]byte(out)); err != nil {
				t.Fatalf("the relay refuses it: %v", err)
			}
		})
	}
}
