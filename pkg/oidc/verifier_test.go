package oidc_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/oidc"
)

const aud = "api://chat"

func mustVerifier(t *testing.T, cfg oidc.Config) *oidc.Verifier {
	t.Helper()
	v, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// reason returns the refusal's reason, failing t when err is not an *oidc.Error.
func reason(t *testing.T, err error) string {
	t.Helper()
	var e *oidc.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *oidc.Error", err, err)
	}
	if strings.ContainsAny(e.Reason, "\r\n") {
		t.Fatalf("reason %q is not one line", e.Reason)
	}
	return e.Reason
}

func TestVerifyAccepts(t *testing.T) {
	for _, alg := range []idp.Alg{idp.RS256, idp.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			is := newIssuer(t, alg)
			v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{"other", aud}})
			raw := is.token(t, aud, "alice", jwt.MapClaims{"roles": []string{"chat.admin"}, "scp": "a b"})
			tok, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Subject != "alice" || tok.Issuer != is.URL || tok.Algorithm != string(alg) || tok.KeyID != is.KeyID() ||
				fmt.Sprint(tok.Strings("roles")) != "[chat.admin]" || fmt.Sprint(tok.Strings("scp")) != "[a b]" ||
				time.Until(tok.Expiry) < 59*time.Minute {
				t.Fatalf("token %+v", tok)
			}
			again, err := v.Verify(context.Background(), raw)
			if err != nil || again != tok {
				t.Fatalf("second verify = %p, %v; want the cached %p", again, err, tok)
			}
			if n, d := is.jwksFetch.Load(), is.discFetch.Load(); n != 1 || d != 1 {
				t.Fatalf("%d key set and %d discovery fetches, want 1 and 1", n, d)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	other := newIssuer(t, idp.RS256)
	pub, err := x509.MarshalPKIXPublicKey(is.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	now := time.Now()
	hs := func(key []byte) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": is.URL, "aud": aud, "sub": "x", "exp": now.Add(time.Hour).Unix()})
		tk.Header["kid"] = is.KeyID()
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": is.URL, "aud": aud, "sub": "x", "exp": now.Add(time.Hour).Unix()}).
			SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A token from the right issuer re-signed by another key under the right kid.
	forged := func() string {
		good := is.token(t, aud, "x", nil)
		bad := other.token(t, aud, "x", nil)
		return good[:strings.LastIndex(good, ".")] + bad[strings.LastIndex(bad, "."):]
	}
	v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud},
		Check: func(tok *oidc.Token) error {
			if tok.String("oid") == "intruder" {
				return errors.New("caller not allowed")
			}
			return nil
		}})
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"alg none", none(), `token algorithm "none" is not accepted (want RS256, ES256)`},
		{"HS256 signed with the RSA public key", hs(pubPEM), `token algorithm "HS256" is not accepted (want RS256, ES256)`},
		{"forged signature", forged(), "token signature invalid"},
		{"other issuer", other.token(t, aud, "x", nil), "token signed by an unknown key (kid " + fmt.Sprintf("%q", other.KeyID()) + ")"},
		{"right key, other iss", is.token(t, aud, "x", jwt.MapClaims{"iss": other.URL}), "token issuer " + fmt.Sprintf("%q", other.URL) + " not accepted"},
		{"no iss", is.token(t, aud, "x", jwt.MapClaims{"iss": nil}), "token lacks the required iss claim"},
		{"other audience", is.token(t, "api://other", "x", nil), "token audience not accepted"},
		{"no audience", is.token(t, aud, "x", jwt.MapClaims{"aud": nil}), "token lacks the required aud claim"},
		{"expired", is.token(t, aud, "x", jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()}), "token expired"},
		{"no exp", is.token(t, aud, "x", jwt.MapClaims{"exp": nil}), "token lacks the required exp claim"},
		{"not yet valid", is.token(t, aud, "x", jwt.MapClaims{"nbf": now.Add(5 * time.Minute).Unix()}), "token not valid yet"},
		{"issued in the future", is.token(t, aud, "x", jwt.MapClaims{"iat": now.Add(5 * time.Minute).Unix()}), "token issued in the future"},
		{"check refuses", is.token(t, aud, "x", jwt.MapClaims{"oid": "intruder"}), "caller not allowed"},
		{"malformed", "a.b.c", "malformed token"},
		{"empty", "", "empty token"},
		{"too long", strings.Repeat("a", 17<<10), "token longer than 16 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.raw)
			if got := reason(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("within leeway", func(t *testing.T) {
		if _, err := v.Verify(context.Background(), is.token(t, aud, "x", jwt.MapClaims{"exp": now.Add(-20 * time.Second).Unix(), "nbf": now.Add(20 * time.Second).Unix()})); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnknownKidFlood(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}, UnknownKeyInterval: time.Hour})
	if _, err := v.Verify(context.Background(), is.token(t, aud, "x", nil)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	forger, _ := idp.New(idp.RS256)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": is.URL, "aud": aud, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
			tk.Header["kid"] = fmt.Sprint("forged-", i)
			tok, _ := tk.SignedString(forger.Signer())
			_, err := v.Verify(context.Background(), tok)
			if r := reason(t, err); !strings.HasPrefix(r, "token signed by an unknown key") {
				t.Errorf("reason %q", r)
			}
		}()
	}
	wg.Wait()
	if n := is.jwksFetch.Load(); n != 2 {
		t.Fatalf("%d key set fetches for 200 unknown kids, want 2 (start + one rate-limited refresh)", n)
	}
}

func TestIssuerDown(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}, RefreshInterval: time.Millisecond, RetryInterval: time.Hour, CacheSize: -1})
	if _, err := v.Verify(context.Background(), is.token(t, aud, "x", nil)); err != nil {
		t.Fatal(err)
	}
	is.down.Store(true)
	time.Sleep(5 * time.Millisecond) // the keys are stale now: the next verify tries to refresh
	for i := range 3 {
		if _, err := v.Verify(context.Background(), is.token(t, aud, fmt.Sprint("u", i), nil)); err != nil {
			t.Fatalf("a known key stopped working while the issuer is down: %v", err)
		}
	}
	forger, _ := idp.New(idp.RS256)
	tok, _ := forger.Mint(jwt.MapClaims{"iss": is.URL, "aud": aud, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
	if r := reason(t, second(v.Verify(context.Background(), tok))); !strings.HasPrefix(r, "token signed by an unknown key") {
		t.Fatalf("unknown key while down: %q", r)
	}
	if n := is.jwksFetch.Load(); n > 3 {
		t.Fatalf("%d key set fetches: a failed refresh is retried only after RetryInterval", n)
	}

	t.Run("down from the start", func(t *testing.T) {
		is := newIssuer(t, idp.RS256)
		is.down.Store(true)
		v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}})
		err := second(v.Verify(context.Background(), is.token(t, aud, "x", nil)))
		if r := reason(t, err); r != "the issuer's signing keys are unavailable" || !errors.Is(err, oidc.ErrKeysUnavailable) {
			t.Fatalf("reason %q (%v)", r, err)
		}
		v.Verify(context.Background(), is.token(t, aud, "x", nil))
		if n := is.discFetch.Load(); n != 1 {
			t.Fatalf("%d discovery fetches, want 1 within RetryInterval", n)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func TestKeyRotation(t *testing.T) {
	is := newIssuer(t, idp.ES256)
	v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}, CacheSize: -1})
	old := is.token(t, aud, "old", nil)
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	oldUnseen := is.token(t, aud, "old2", nil)
	is.Rotate()
	for i := range 5 {
		if _, err := v.Verify(context.Background(), is.token(t, aud, fmt.Sprint("new", i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, raw := range []string{old, oldUnseen} {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Fatalf("a token of the previous key stopped working: %v", err)
		}
	}
	if n := is.jwksFetch.Load(); n != 2 {
		t.Fatalf("%d key set fetches, want 2: the new kid is fetched once", n)
	}
}

func TestMultiTenantTemplate(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	is.issuerName = is.URL + "/{tenantid}/v2.0"
	tokenFor := func(tid string) string {
		return is.token(t, aud, "x", jwt.MapClaims{"iss": is.URL + "/" + tid + "/v2.0", "tid": tid})
	}
	if _, err := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}}).Verify(context.Background(), tokenFor("t1")); !errors.Is(err, oidc.ErrKeysUnavailable) {
		t.Fatalf("a template issuer without Tenants: %v", err)
	}
	v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}, Tenants: []string{"t1"}})
	if _, err := v.Verify(context.Background(), tokenFor("t1")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, raw string }{
		{"tenant not listed", tokenFor("t2")},
		{"tid and iss disagree", is.token(t, aud, "x", jwt.MapClaims{"iss": is.URL + "/t2/v2.0", "tid": "t1"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := reason(t, second(v.Verify(context.Background(), tc.raw))); !strings.Contains(r, "or tenant not accepted") {
				t.Fatalf("reason %q", r)
			}
		})
	}
}

func TestAudienceClaim(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	v := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{"client1"}, AudienceClaim: "client_id"})
	if _, err := v.Verify(context.Background(), is.token(t, "", "x", jwt.MapClaims{"aud": nil, "client_id": "client1"})); err != nil {
		t.Fatal(err)
	}
	if r := reason(t, second(v.Verify(context.Background(), is.token(t, "", "x", jwt.MapClaims{"aud": nil, "client_id": "client2"})))); r != "token client_id claim not accepted" {
		t.Fatal(r)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	is.issuerName = "https://evil.example"
	_, err := mustVerifier(t, oidc.Config{Issuer: is.URL, Audiences: []string{aud}}).Verify(context.Background(), is.token(t, aud, "x", nil))
	var e *oidc.Error
	if !errors.As(err, &e) || !errors.Is(err, oidc.ErrKeysUnavailable) || !strings.Contains(e.Err.Error(), `names issuer "https://evil.example"`) {
		t.Fatalf("got %v", err)
	}
}

func TestJWKSURLWithoutDiscovery(t *testing.T) {
	is := newIssuer(t, idp.RS256)
	v := mustVerifier(t, oidc.Config{JWKSURL: is.URL + "/keys", Issuers: []string{is.URL}, Audiences: []string{aud}})
	if _, err := v.Verify(context.Background(), is.token(t, aud, "x", nil)); err != nil {
		t.Fatal(err)
	}
	if is.discFetch.Load() != 0 {
		t.Fatal("discovery was fetched although JWKSURL is set")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  oidc.Config
		want string
	}{
		{"no issuer", oidc.Config{Audiences: []string{aud}}, "set Issuer (discovery) or JWKSURL"},
		{"no audience", oidc.Config{Issuer: "https://x"}, "Audiences must name"},
		{"HS256", oidc.Config{Issuer: "https://x", Audiences: []string{aud}, Algorithms: []string{"HS256"}}, `algorithm "HS256" is not accepted`},
		{"none", oidc.Config{Issuer: "https://x", Audiences: []string{aud}, Algorithms: []string{"none"}}, `algorithm "none" is not accepted`},
		{"negative leeway", oidc.Config{Issuer: "https://x", Audiences: []string{aud}, Leeway: -1}, "Leeway is negative"},
		{"bad issuer URL", oidc.Config{Issuer: "x", Audiences: []string{aud}}, "not an http(s) URL"},
		{"JWKS without iss", oidc.Config{JWKSURL: "https://x/keys", Audiences: []string{aud}}, "set Issuer or Issuers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := oidc.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// BenchmarkVerifyCached is the hit path: a token verified before, as the
// service's reused upstream token or a user's session token.
func BenchmarkVerifyCached(b *testing.B) {
	is := newIssuer(b, idp.RS256)
	v, err := oidc.New(oidc.Config{Issuer: is.URL, Audiences: []string{"api://bench"}})
	if err != nil {
		b.Fatal(err)
	}
	raw := is.token(b, "api://bench", "caller", nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifyCachedAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	is := newIssuer(t, idp.RS256)
	v, err := oidc.New(oidc.Config{Issuer: is.URL, Audiences: []string{"api://a"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := is.token(t, "api://a", "caller", nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { v.Verify(ctx, raw) }); n != 0 {
		t.Fatalf("a cached verification allocates %.0f times", n)
	}
}
