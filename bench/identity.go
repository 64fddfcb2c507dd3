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
// Both sides of a ratio are measured in IDENTITY_ROUNDS (default 6)
// interleaved rounds of IDENTITY_SECONDS (default 1) each, the order swapped
// every round, and the ratio is the median of the rounds' ratios: one run
// of each side after the other moved the ratio by ±10 % on this shared VM.
// IDENTITY_WORKERS (default 4) is the concurrent callers.

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
	seconds := time.Duration(envInt("IDENTITY_SECONDS", 1, 1, 600)) * time.Second
	rounds := envInt("IDENTITY_ROUNDS", 6, 1, 100)
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
	rsRate, hsRate, negRatio, rsN, err := pairRates(ctx, seconds, rounds, workers, negotiateWith(rs), negotiateWith(hs))
	if err != nil {
		return fmt.Errorf("negotiate: %w", err)
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
	entraRate, hmacRate, evRatio, entraN, err := pairRates(ctx, seconds, rounds, workers, event(withEntra), event(hmacOnly))
	if err != nil {
		return fmt.Errorf("user events: %w", err)
	}
	evFetches := fetches.Load() - before

	fmt.Printf("%d workers, %d interleaved rounds of %s per side, in process; rates and ratios are medians over the rounds\n", workers, rounds, seconds)
	fmt.Printf("negotiate RS256 OIDC (keys cached)    %10.0f req/s\n", rsRate)
	fmt.Printf("negotiate HS256                       %10.0f req/s\n", hsRate)
	fmt.Printf("  ratio RS256/HS256 %.2f (goal >= 0.8) %s\n", negRatio, met(negRatio >= 0.8))
	fmt.Printf("user events, Entra bearer + HMAC      %10.0f events/s\n", entraRate)
	fmt.Printf("user events, HMAC only                %10.0f events/s\n", hmacRate)
	fmt.Printf("  ratio %.2f (goal >= 0.9) %s\n", evRatio, met(evRatio >= 0.9))
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

// pairRates measures a and b in interleaved rounds (b first every other
// round) and returns the median rate of each, the median of the rounds'
// a/b ratios and the number of calls of a.
func pairRates(ctx context.Context, d time.Duration, rounds, workers int, a, b func(int) bool) (ra, rb, ratio float64, na int64, err error) {
	var as, bs, ratios []float64
	for r := range rounds {
		first, second := a, b
		if r%2 == 1 {
			first, second = b, a
		}
		x, nx, err := rate(ctx, d, workers, first)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		y, ny, err := rate(ctx, d, workers, second)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if r%2 == 1 {
			x, y, nx = y, x, ny
		}
		as, bs, ratios = append(as, x), append(bs, y), append(ratios, x/y)
		na += nx
	}
	return median(as), median(bs), median(ratios), na, nil
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
