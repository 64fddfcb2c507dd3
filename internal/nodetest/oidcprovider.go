package nodetest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OIDCProvider is the real npm oidc-provider running test/oidc/provider.mjs:
// an issuer whose clients "rs" and "es" get RS256 and ES256 access tokens
// for api://chat (see the script).
type OIDCProvider struct {
	Issuer string
}

// StartOIDCProvider starts the provider for the rest of t (skipping, or
// failing under CI=true, when Node.js 22 or the package is missing).
func StartOIDCProvider(t testing.TB) *OIDCProvider {
	t.Helper()
	Require(t)
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "oidc-provider")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("oidc-provider is required under CI (run `make test-deps`): %v", err)
		}
		t.Skipf("oidc-provider not installed: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := Command(ctx, t, "oidc/provider.mjs")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the script exits when its stdin ends
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		var ready struct{ Issuer string }
		if !ok || json.Unmarshal([]byte(line), &ready) != nil || ready.Issuer == "" {
			t.Fatalf("oidc-provider did not start: %q\n%s", line, stderr.String())
		}
		return &OIDCProvider{Issuer: ready.Issuer}
	case <-time.After(30 * time.Second):
		t.Fatalf("oidc-provider did not start within 30s\n%s", stderr.String())
	}
	return nil
}

// Token gets a client-credentials access token for client ("rs" or "es").
func (p *OIDCProvider) Token(t testing.TB, client string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client},
		"client_secret": {"test-secret-for-oidc-provider-0123456789"}, "resource": {"api://chat"}, "scope": {"chat"}}
	resp, err := http.PostForm(p.Issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("oidc-provider token: %d %v %s", resp.StatusCode, err, tok.Error)
	}
	return tok.AccessToken
}

// Rotate makes the provider sign with new keys, keeping the old ones
// published; it returns the new kids.
func (p *OIDCProvider) Rotate(t testing.TB) []string {
	t.Helper()
	resp, err := http.Post(p.Issuer+"/_rotate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Kids []string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Kids) == 0 {
		t.Fatalf("rotate: %d %v", resp.StatusCode, err)
	}
	return r.Kids
}
