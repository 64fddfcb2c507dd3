package main

// The "relay" part: SQS events of 10 records through the relay's message
// endpoint (faas.Handler on relay.Relay, in process: the SQS event decoded
// and answered as Lambda's handler does) against the emulator,
// versus the same messages sent directly with pkg/wps: messages/s and the
// p99 time per batch from the same number of goroutines, each batch's ten
// messages sent side by side in both (the relay's handler sends the records
// of a standard queue batch concurrently). Then the dedupe window at 1 M
// ids (go test -bench, functions/relay). Settings: RELAY_BENCH_GOROUTINES
// (default 8), RELAY_BENCH_DURATION (default 3s per contender),
// RELAY_BENCH_DEDUPE_IDS (default 1000000); RELAY_CPUPROFILE and
// RELAY_MEMPROFILE write this process's CPU and allocation profiles over the
// measured rounds (both contenders and the emulator), to look into a figure.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

func init() { register("relay", benchRelay) }

const (
	relayHub   = "chat"
	relayBatch = 10
)

func benchRelay(ctx context.Context) error {
	goroutines := envInt("RELAY_BENCH_GOROUTINES", 8, 1, 1024)
	dur := 3 * time.Second
	if d, err := time.ParseDuration(os.Getenv("RELAY_BENCH_DURATION")); err == nil && d > 0 {
		dur = d
	}
	emu, err := emulator.New(emulator.Config{Hubs: map[string]emulator.HubSettings{relayHub: {}}})
	if err != nil {
		return err
	}
	emuURL, stop, err := serveLoopback(emu.Handler())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		emu.Shutdown(sctx)
		stop()
	}()
	connStr := emu.ConnectionString(emuURL)
	transport := func() *http.Client {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 512
		return &http.Client{Transport: t}
	}
	r, err := relay.New(relay.Config{ConnectionString: connStr, Hub: relayHub, HTTPClient: transport(), SendRetries: -1,
		Logger: slog.New(slog.DiscardHandler)}) // its per-message log line is not measured
	if err != nil {
		return err
	}
	fnHTTP := faas.Handler(r.Function(), faas.HostLocal)
	direct, err := wps.NewClientFromConnectionString(connStr, relayHub,
		&wps.ClientOptions{HTTPClient: transport(), Retry: wps.RetryOptions{MaxRetries: -1}})
	if err != nil {
		return err
	}
	fmt.Printf("SQS batches of %d envelopes, %d goroutines, %v per contender, emulator at %s\n", relayBatch, goroutines, dur, emuURL)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before: %s", load)
	}

	// The SQS event's bytes are what Lambda's runtime hands the function:
	// built outside the relay's measured work by splicing fresh message ids
	// into one marshalled record (json.Marshal per call would charge the
	// producer's encoding to the relay, on the same two cores).
	var seq atomic.Int64
	body := `{"to":"group","id":"orders","json":{"order":42,"status":"shipped"}}`
	const idMark = "@MESSAGE-ID@"
	recordJSON, err := json.Marshal(events.SQSMessage{MessageId: idMark, Body: body, EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:relay", AWSRegion: "us-east-1",
		Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1764633600000"}})
	if err != nil {
		return err
	}
	recBefore, recAfter, _ := bytes.Cut(recordJSON, []byte(idMark))
	sqsEvent := func(raw []byte) []byte {
		raw = append(raw[:0], `{"Records":[`...)
		for i := range relayBatch {
			if i > 0 {
				raw = append(raw, ',')
			}
			raw = append(append(raw, recBefore...), "m-"...)
			raw = strconv.AppendInt(raw, seq.Add(1), 10)
			raw = append(raw, recAfter...)
		}
		return append(raw, "]}"...)
	}
	viaRelay := func(ctx context.Context) error {
		raw := sqsEvent(make([]byte, 0, 10*len(recordJSON)+32))
		rec := httptest.NewRecorder()
		fnHTTP.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(raw)))
		var resp events.SQSEventResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != http.StatusOK {
			return fmt.Errorf("relay answered %d %s", rec.Code, strings.TrimSpace(rec.Body.String()))
		}
		if len(resp.BatchItemFailures) > 0 {
			return fmt.Errorf("%d records failed", len(resp.BatchItemFailures))
		}
		return nil
	}
	msg := wps.JSON(map[string]any{"order": 42, "status": "shipped"})
	viaWPS := func(ctx context.Context) error {
		errs := make([]error, relayBatch)
		var wg sync.WaitGroup
		for i := range relayBatch {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = direct.SendToGroup(ctx, "orders", msg, nil) }()
		}
		wg.Wait()
		return errors.Join(errs...)
	}

	// Warm both up, then alternate short rounds so a change in the
	// machine's load hits both alike.
	const rounds = 6
	for _, f := range []func(context.Context) error{viaRelay, viaWPS} {
		if _, err := relayRound(ctx, f, goroutines, dur/10); err != nil {
			return err
		}
	}
	if path := os.Getenv("RELAY_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	if path := os.Getenv("RELAY_MEMPROFILE"); path != "" {
		defer func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	var relayLat, wpsLat []time.Duration
	var relayN, wpsN int
	for i := range rounds {
		order := []bool{true, false}
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, isRelay := range order {
			f := viaWPS
			if isRelay {
				f = viaRelay
			}
			lat, err := relayRound(ctx, f, goroutines, dur/rounds)
			if err != nil {
				return err
			}
			if isRelay {
				relayLat, relayN = append(relayLat, lat...), relayN+len(lat)
			} else {
				wpsLat, wpsN = append(wpsLat, lat...), wpsN+len(lat)
			}
		}
	}
	relayRate := float64(relayN*relayBatch) / dur.Seconds()
	wpsRate := float64(wpsN*relayBatch) / dur.Seconds()
	fmt.Println()
	fmt.Printf("  %-34s %10.0f messages/s   p99 per batch %v\n", "relay (SQS event, envelope, dedupe)", relayRate, p99(relayLat))
	fmt.Printf("  %-34s %10.0f messages/s   p99 per batch %v\n", "pkg/wps directly", wpsRate, p99(wpsLat))
	fmt.Printf("  relay / direct = %.2f (goal >= 0.85)\n", relayRate/wpsRate)

	fmt.Printf("\nDedupe window (go test -bench, functions/relay, %d ids):\n", envInt("RELAY_BENCH_DEDUPE_IDS", 1_000_000, 1, 100_000_000))
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "test", "-run", "^$", "-bench", "DedupeWindow", "-benchmem", "./functions/relay")
	out, err := cmd.CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "Benchmark") {
			fmt.Print("  " + line)
		}
	}
	if err != nil {
		return fmt.Errorf("dedupe benchmark: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// relayRound runs f from n goroutines for d and returns each call's duration.
func relayRound(ctx context.Context, f func(context.Context) error, n int, d time.Duration) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	deadline := time.Now().Add(d)
	lats := make([][]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := f(ctx); err != nil {
					errs[g] = err
					return
				}
				lats[g] = append(lats[g], time.Since(start))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(lats...), nil
}

// p99 is the 99th percentile of ds.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99)/100].Round(time.Microsecond)
}
