package main

// The "identity" part (issue 12), in process so that only the verification
// differs between the two sides of each ratio:
//   1. negotiate requests/s with RS256 user tokens of an OIDC issuer (a
//      local internal/idp issuer; 1000 distinct tokens, reused as clients
//      reuse theirs, so keys and verified tokens are cached) vs the same
//      users with HS256 application JWTs. Goal: at least 0.8.
//   2. signed user events/s through a cloudevents.Handler that checks the
//      Entra bearer token and the ce-signature vs the ce-signature only.
//      Goal: at least 0.9 (the verified-token cache).
//   3. key set fetches per 100k requests after warm-up. Goal: 0.
// IDENTITY_SECONDS (default 2) is the time per measurement, IDENTITY_WORKERS
// (default 4) the concurrent callers.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/functions/negotiate"
	"github.com/wpsfn/wpsfn/internal/idp"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

func init() { register("identity", benchIdentity) }

const (
	idKey    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="
	idSecret = "bench-application-secret-0123456789"
	idTenant = "bench-tenant"
	idUsers  = 1000
)

func benchIdentity(ctx context.Context) error {
	seconds := time.Duration(envInt("IDENTITY_SECONDS", 2, 1, 600)) * time.Second
	workers := envInt("IDENTITY_WORKERS", 4, 1, 256)
	p, err := idp.New(idp.RS256)
	if err != nil {
		return err
	}
	var fetches atomic.Int64
	var issuer string
	mux := http.NewServeMux()
	mux.Handle("/", p.EntraHandler(idTenant, func(*http.Request) string { return issuer }))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/keys") {
			fetches.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	issuer = srv.URL
	iss := srv.URL + "/" + idTenant + "/v2.0"

	// 1. negotiate.
	ncfg := negotiate.Config{ConnectionString: "Endpoint=http://127.0.0.1:1;AccessKey=" + idKey + ";Version=1.0;",
		Hub: "chat", JWTSecret: idSecret, Logger: slog.New(slog.DiscardHandler)}
	ncfg.OIDC.Issuer, ncfg.OIDC.Audiences = iss, []string{"api://chat"}
	neg, err := negotiate.New(ncfg)
	if err != nil {
		return err
	}
	rs, hs := make([]string, idUsers), make([]string, idUsers)
	for i := range idUsers {
		user := fmt.Sprint("user", i)
		if rs[i], _, err = p.Access(iss, idTenant, "api://chat", user, time.Hour, nil); err != nil {
			return err
		}
		c := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
		if hs[i], err = jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(idSecret)); err != nil {
			return err
		}
	}
	negotiateWith := func(toks []string) func(i int) bool {
		return func(i int) bool {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+toks[i%len(toks)])
			w := httptest.NewRecorder()
			neg.ServeHTTP(w, r)
			return w.Code == http.StatusOK
		}
	}
	warm(negotiateWith(rs), idUsers)
	before := fetches.Load()
	rsRate, rsN, err := rate(ctx, seconds, workers, negotiateWith(rs))
	if err != nil {
		return fmt.Errorf("negotiate RS256: %w", err)
	}
	hsRate, _, err := rate(ctx, seconds, workers, negotiateWith(hs))
	if err != nil {
		return fmt.Errorf("negotiate HS256: %w", err)
	}
	negFetches := fetches.Load() - before

	// 2. user events.
	entra, err := cloudevents.NewEntraAuthenticator(cloudevents.EntraOptions{TenantID: idTenant, AuthorityHost: srv.URL,
		Audiences: []string{"api://events"}, AllowedCallers: []string{"wps-identity"}})
	if err != nil {
		return err
	}
	keys := cloudevents.NewKeys(idKey)
	echo := func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
		return &cloudevents.UserEventResponse{Data: req.Data, DataType: req.DataType}, nil
	}
	quiet := slog.New(slog.DiscardHandler)
	withEntra := &cloudevents.Handler{Hub: "chat", Authenticator: cloudevents.AllOf(keys, entra), UserEvent: echo, Logger: quiet}
	hmacOnly := &cloudevents.Handler{Hub: "chat", Keys: keys, UserEvent: echo, Logger: quiet}
	wpsTok, _, err := p.Access(iss, idTenant, "api://events", "wps-identity", time.Hour, nil)
	if err != nil {
		return err
	}
	caller := &upstream.Caller{Keys: keys, Token: func(context.Context) (string, error) { return wpsTok, nil }}
	event := func(h http.Handler) func(i int) bool {
		return func(i int) bool {
			ev := &cloudevents.UserEventRequest{ConnectionContext: cloudevents.ConnectionContext{Hub: "chat",
				ConnectionID: fmt.Sprint("conn", i%idUsers), UserID: "alice"}, Data: []byte(`{"text":"hi"}`), DataType: cloudevents.DataJSON}
			r, err := caller.NewRequest(context.Background(), "http://fn/api/message", ev)
			if err != nil {
				return false
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code == http.StatusOK
		}
	}
	warm(event(withEntra), idUsers)
	before = fetches.Load()
	entraRate, entraN, err := rate(ctx, seconds, workers, event(withEntra))
	if err != nil {
		return fmt.Errorf("events with Entra: %w", err)
	}
	hmacRate, _, err := rate(ctx, seconds, workers, event(hmacOnly))
	if err != nil {
		return fmt.Errorf("events with HMAC: %w", err)
	}
	evFetches := fetches.Load() - before

	fmt.Printf("%d workers, %s per measurement, in process\n", workers, seconds)
	fmt.Printf("negotiate RS256 OIDC (keys cached)    %10.0f req/s\n", rsRate)
	fmt.Printf("negotiate HS256                       %10.0f req/s\n", hsRate)
	fmt.Printf("  ratio RS256/HS256 %.2f (goal >= 0.8) %s\n", rsRate/hsRate, met(rsRate/hsRate >= 0.8))
	fmt.Printf("user events, Entra bearer + HMAC      %10.0f events/s\n", entraRate)
	fmt.Printf("user events, HMAC only                %10.0f events/s\n", hmacRate)
	fmt.Printf("  ratio %.2f (goal >= 0.9) %s\n", entraRate/hmacRate, met(entraRate/hmacRate >= 0.9))
	per := float64(negFetches+evFetches) / float64(max(rsN+entraN, 1)) * 100_000
	fmt.Printf("key set fetches after warm-up: %d in %d verified requests = %.1f per 100k (goal 0) %s\n",
		negFetches+evFetches, rsN+entraN, per, met(negFetches+evFetches == 0))
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// warm calls f n times so that keys and verified tokens are cached.
func warm(f func(int) bool, n int) {
	for i := range n {
		f(i)
	}
}

// rate runs f from workers goroutines for d and returns calls per second
// and the number of calls; a failed call is an error.
func rate(ctx context.Context, d time.Duration, workers int, f func(int) bool) (float64, int64, error) {
	var n, bad atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += workers {
				if !f(i) {
					bad.Add(1)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		return 0, 0, fmt.Errorf("%d calls failed", bad.Load())
	}
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), nil
}
