package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{3}, 3},
		{"odd", []float64{5, 1, 3}, 3},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			assert.Equal(t, "median", median(in), tc.want)
			assert.Equal(t, "input left alone", in, tc.in)
		})
	}
	assert.Equal(t, "durations", median([]time.Duration{time.Second, 3 * time.Second}), 2*time.Second)
}

func TestColdVerdict(t *testing.T) {
	for _, tc := range []struct {
		name    string
		m, node time.Duration
		size    int64
		want    string
	}{
		{"all met", 5 * time.Millisecond, 150 * time.Millisecond, 7 << 20, "met (≤10 ms, ≥15x, <12 MB)"},
		{"no Node anchor", 5 * time.Millisecond, 0, 7 << 20, "met (≤10 ms, <12 MB); ≥15x not measured (no Node anchor)"},
		{"ratio missed", 9 * time.Millisecond, 100 * time.Millisecond, 7 << 20, "MISSED: ratio"},
		{"slow and big, no anchor", 20 * time.Millisecond, 0, 13 << 20, "MISSED: time, size; ≥15x not measured (no Node anchor)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, "verdict", coldVerdict(tc.m, tc.node, tc.size), tc.want)
		})
	}
}

func TestPhaseVerdict(t *testing.T) {
	assert.Equal(t, "lost", phaseVerdict(false, 9, 10, 1e6, 0), "LOST deliveries")
	assert.Equal(t, "flat out fast", phaseVerdict(false, 10, 10, fanoutGoal, 0), "throughput meets goal")
	assert.Equal(t, "flat out slow", phaseVerdict(false, 10, 10, fanoutGoal-1, 0), "throughput below goal")
	assert.Equal(t, "paced quick", phaseVerdict(true, 10, 10, 1, fanoutGoalP99-1), "p99 meets goal")
	assert.Equal(t, "paced slow", phaseVerdict(true, 10, 10, 1, fanoutGoalP99), "p99 over goal")
}

func TestUnknownParts(t *testing.T) {
	assert.Equal(t, "known", len(unknownParts([]string{"rest", "fanout"})), 0)
	assert.Equal(t, "unknown", unknownParts([]string{"rest", "bogus", "-h"}), []string{`"bogus"`, `"-h"`})
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	assert.Contains(t, "usage", usage(), "parts: "+strings.Join(names, ", ")+" (none")
	assert.Contains(t, "usage", usage(), "relay")
}

// `go run ./bench bogus` prints the usage to stderr and exits 2, running
// nothing.
func TestBogusPart(t *testing.T) {
	if os.Getenv("WPSFN_BENCH_MAIN") == "1" {
		os.Args = []string{"bench", "bogus"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBogusPart$")
	cmd.Env = append(os.Environ(), "WPSFN_BENCH_MAIN=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("run: %v", err)
	}
	assert.Equal(t, "exit status", ee.ExitCode(), 2)
	assert.Contains(t, "stderr", stderr.String(), `bench: unknown part "bogus"`)
	assert.Contains(t, "stderr", stderr.String(), "usage: go run ./bench [part...]")
	assert.True(t, "nothing ran", !strings.Contains(stdout.String(), "=="))
}
