// Command bench runs wpsfn's side-by-side benchmarks: each part measures our
// code and the anchors named in the issues in one run, on loopback, and
// prints the figures and their ratios. Usage: go run ./bench [part...]
// with no part meaning all of them. Results are recorded in docs/benchmarks.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// part is one benchmark; each registers itself from its own file's init.
type part struct {
	name string
	run  func(ctx context.Context) error
}

var parts []part

func register(name string, run func(ctx context.Context) error) {
	parts = append(parts, part{name, run})
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sort.Slice(parts, func(i, j int) bool { return parts[i].name < parts[j].name })
	want := os.Args[1:]
	if bad := unknownParts(want); len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "bench: unknown part %s\n%s", strings.Join(bad, ", "), usage())
		os.Exit(2)
	}
	failed := false
	for _, p := range parts {
		if len(want) > 0 && !slices.Contains(want, p.name) {
			continue
		}
		fmt.Printf("== %s ==\n", p.name)
		if err := p.run(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", p.name, err)
			failed = true
		}
		fmt.Println()
	}
	if failed {
		os.Exit(1)
	}
}

// unknownParts returns the names in want that no part has; "-h" and
// "--help" are unknown too, so they print the usage.
func unknownParts(want []string) []string {
	var bad []string
	for _, w := range want {
		if !slices.ContainsFunc(parts, func(p part) bool { return p.name == w }) {
			bad = append(bad, strconv.Quote(w))
		}
	}
	return bad
}

func usage() string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	return "usage: go run ./bench [part...]\nparts: " + strings.Join(names, ", ") + " (none: all of them)\n"
}
