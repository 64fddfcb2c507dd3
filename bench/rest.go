package main

// The "rest" part: SendToAll from 50 concurrent callers against one local
// sink server, with pkg/wps, with a bare net/http client sending the same
// request with a pre-signed token (the ceiling), and with Microsoft's
// @azure/web-pubsub 1.2.0 on Node.js (the anchor), then the cost of building
// and signing one request (go test -bench).

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

func init() { register("rest", benchREST) }

const (
	restConcurrency = 50
	restDuration    = 3 * time.Second
	restWarmup      = 500 * time.Millisecond
	restKey         = "bench-key-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789="
	restHub         = "chat"
)

func benchREST(ctx context.Context) error {
	var sunk atomic.Int64
	endpoint, stop, err := serveLoopback(restSink(&sunk))
	if err != nil {
		return err
	}
	defer stop()
	connStr := "Endpoint=" + endpoint + ";AccessKey=" + restKey + ";Version=1.0;"

	fmt.Printf("SendToAll, %d concurrent callers, %v each, loopback sink at %s\n", restConcurrency, restDuration, endpoint)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before: %s", load)
	}

	// Both Go contenders get the same transport settings: enough idle
	// connections per host for every caller (Go's default of 2 would make
	// most calls open a new connection).
	newTransport := func() *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 256
		return t
	}

	client, err := wps.NewClientFromConnectionString(connStr, restHub,
		&wps.ClientOptions{HTTPClient: &http.Client{Transport: newTransport()}, Retry: wps.RetryOptions{MaxRetries: -1}})
	if err != nil {
		return err
	}
	msg := wps.Text("hello")
	wpsCall := func(ctx context.Context) error { return client.SendToAll(ctx, msg, nil) }

	bare := &http.Client{Transport: newTransport()}
	url := endpoint + "/api/hubs/" + restHub + "/:send?api-version=2024-12-01"
	auth := "Bearer " + presign(url, restKey)
	body := []byte("hello")
	bareCall := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(string(body)))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := bare.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}

	// The two Go contenders run in alternating short rounds so that a change
	// in the machine's load hits both alike.
	res, err := measureInterleaved(ctx, []goContender{{"bare net/http", bareCall}, {"pkg/wps", wpsCall}})
	if err != nil {
		return err
	}
	bareRate, wpsRate := res[0].rate, res[1].rate
	jsRate, jsErr := measureJS(ctx, connStr)

	fmt.Println()
	fmt.Printf("  %-28s %10.0f calls/s\n", "pkg/wps", wpsRate)
	fmt.Printf("  %-28s %10.0f calls/s\n", "bare net/http (pre-signed)", bareRate)
	if jsErr != nil {
		fmt.Printf("  %-28s %10s (%v)\n", "@azure/web-pubsub 1.2.0", "n/a", jsErr)
	} else {
		fmt.Printf("  %-28s %10.0f calls/s\n", "@azure/web-pubsub 1.2.0", jsRate)
		fmt.Printf("  pkg/wps / @azure/web-pubsub = %.1fx (goal >= 10x)\n", wpsRate/jsRate)
	}
	fmt.Printf("  pkg/wps / bare net/http     = %.0f%% (goal >= 85%%); median of %d round pairs %.0f%%; by CPU per call %.0f%%\n",
		100*wpsRate/bareRate, restRounds, 100*median(res[1].ratios), 100*float64(res[0].cpuPerCall)/float64(res[1].cpuPerCall))
	fmt.Printf("  (sink answered %d calls in all)\n", sunk.Load())

	fmt.Println("\nBuilding and signing one request (go test -bench, pkg/wps):")
	if err := goBench(ctx); err != nil {
		fmt.Printf("  go test -bench failed: %v\n", err)
	}
	return jsErr
}

type goContender struct {
	name string
	call func(context.Context) error
}

// restRounds is how many alternating rounds make up each contender's
// restDuration.
const restRounds = 12

// goResult is one contender's measurement.
type goResult struct {
	rate       float64       // successful calls per second, over all rounds
	cpuPerCall time.Duration // process CPU time (client and sink) per call
	ratios     []float64     // per round: this rate / the first contender's rate in the same round pair
}

// measureInterleaved runs each contender's call from restConcurrency
// goroutines, in restRounds alternating rounds totalling restDuration each
// (after a warm-up). Alternating short rounds make a change in the machine's
// load hit every contender alike; the per-round ratios and the CPU time per
// call are less sensitive to other processes than the totals. Any failed call
// fails the measurement.
func measureInterleaved(ctx context.Context, cs []goContender) ([]goResult, error) {
	round := func(c goContender, d time.Duration) (int64, time.Duration, time.Duration, error) {
		ctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
		defer cancel()
		var calls atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		cpu0 := processCPU()
		start := time.Now()
		deadline := start.Add(d)
		for range restConcurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if err := c.call(ctx); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					calls.Add(1)
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return 0, 0, 0, fmt.Errorf("%s: %w", c.name, firstErr)
		}
		return calls.Load(), time.Since(start), processCPU() - cpu0, nil
	}
	for _, c := range cs {
		if _, _, _, err := round(c, restWarmup); err != nil {
			return nil, err
		}
	}
	res := make([]goResult, len(cs))
	calls := make([]int64, len(cs))
	elapsed := make([]time.Duration, len(cs))
	cpu := make([]time.Duration, len(cs))
	for r := range restRounds {
		rates := make([]float64, len(cs))
		for i := range cs {
			j := (i + r) % len(cs) // alternate who goes first
			n, d, c, err := round(cs[j], restDuration/restRounds)
			if err != nil {
				return nil, err
			}
			calls[j] += n
			elapsed[j] += d
			cpu[j] += c
			rates[j] = float64(n) / d.Seconds()
		}
		for i := range cs {
			res[i].ratios = append(res[i].ratios, rates[i]/rates[0])
		}
	}
	for i, c := range cs {
		res[i].rate = float64(calls[i]) / elapsed[i].Seconds()
		res[i].cpuPerCall = cpu[i] / time.Duration(max(calls[i], 1))
		fmt.Printf("  %-28s %d calls in %.2fs (%d rounds), %.1f µs CPU per call\n",
			c.name, calls[i], elapsed[i].Seconds(), restRounds, float64(res[i].cpuPerCall)/1e3)
	}
	return res, nil
}

// measureJS runs test/wps-bench.js with Node.js.
func measureJS(ctx context.Context, connStr string) (float64, error) {
	dir := "test"
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "web-pubsub")); err != nil {
		return 0, errors.New("test/node_modules is not installed (run `make test-deps` from the repository root)")
	}
	ctx, cancel := context.WithTimeout(ctx, restDuration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "wps-bench.js", connStr, restHub,
		strconv.Itoa(int(restDuration/time.Millisecond)), strconv.Itoa(restConcurrency))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("node wps-bench.js: %w", err)
	}
	var res struct {
		Calls   int64   `json:"calls"`
		Errors  int64   `json:"errors"`
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("node wps-bench.js output %q: %w", out, err)
	}
	if res.Errors > 0 {
		return 0, fmt.Errorf("@azure/web-pubsub: %d calls failed", res.Errors)
	}
	fmt.Printf("  %-28s %d calls in %.2fs\n", "@azure/web-pubsub 1.2.0", res.Calls, res.Seconds)
	return float64(res.Calls) / res.Seconds, nil
}

// presign makes the REST token for url once, the way a hand-written client
// with no per-call signing would.
func presign(url, key string) string {
	enc := base64.RawURLEncoding
	now := time.Now().Unix()
	claims, _ := json.Marshal(struct {
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
		Aud string `json:"aud"`
	}{now, now + 3600, url})
	signing := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// goBench runs pkg/wps's request-building benchmarks and prints their lines.
func goBench(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "SignRequest|BuildRequest|SignWithOptions", "-benchmem", "./pkg/wps")
	out, err := cmd.CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "Benchmark") {
			fmt.Print("  " + line)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
