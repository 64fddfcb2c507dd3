// Command apisnapshot writes the public API of every public package of the
// module (not internal, not main) as one text file per package, in the
// manner of the standard library's api/ directory: one line per exported
// constant, variable, function, type, struct field, interface method and
// method, sorted, without comments or parameter names, so that a diff of
// the files shows every change of the API and nothing else.
//
//	go run ./internal/tools/apisnapshot -o api             # write api/
//	go run ./internal/tools/apisnapshot -o api -check      # exit 1 with a diff if api/ is stale
//
// The Makefile runs it as `make api` and `make api-check`.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	out := flag.String("o", "api", "directory for the snapshot files")
	check := flag.Bool("check", false, "compare with the files in -o instead of writing them; exit 1 on a difference")
	flag.Parse()
	pkgs, err := listPackages(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "apisnapshot:", err)
		os.Exit(2)
	}
	files := map[string][]byte{}
	for _, p := range pkgs {
		text, err := snapshot(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apisnapshot:", err)
			os.Exit(2)
		}
		files[fileName(p)] = text
	}
	if *check {
		diff, err := compare(*out, files)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apisnapshot:", err)
			os.Exit(2)
		}
		if diff != "" {
			fmt.Fprint(os.Stderr, diff)
			fmt.Fprintln(os.Stderr, "apisnapshot: the public API differs from "+*out+"/: if the change is meant, run `make api`, commit the result and add the change to CHANGELOG.md")
			os.Exit(1)
		}
		return
	}
	if err := write(*out, files); err != nil {
		fmt.Fprintln(os.Stderr, "apisnapshot:", err)
		os.Exit(2)
	}
}

// pkg is what `go list` says about one package.
type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Module     *struct{ Path string }
}

// listPackages returns the public packages among patterns (default ./...),
// with the files a linux/amd64 build without cgo compiles, so the snapshot
// does not depend on the machine it is made on.
func listPackages(patterns []string) ([]pkg, error) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Name,Dir,GoFiles,Module"}, patterns...)...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		if p.Name == "main" || len(p.GoFiles) == 0 || isInternal(p.ImportPath) {
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

func isInternal(path string) bool {
	for _, el := range strings.Split(path, "/") {
		if el == "internal" {
			return true
		}
	}
	return false
}

// fileName is the snapshot file of p: its path inside the module plus
// ".txt" ("pkg/wps.txt"); the module's root package is "<name>.txt".
func fileName(p pkg) string {
	rel := p.ImportPath
	if p.Module != nil {
		rel = strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, p.Module.Path), "/")
	}
	if rel == "" {
		rel = p.Name
	}
	return filepath.FromSlash(rel) + ".txt"
}

// write replaces the .txt files under dir with files.
func write(dir string, files map[string][]byte) error {
	if err := removeSnapshots(dir); err != nil {
		return err
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, text, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func removeSnapshots(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".txt") {
			return os.Remove(path)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// compare returns a description of every difference between the snapshot
// files under dir and files: missing, extra, and changed lines.
func compare(dir string, files map[string][]byte) (string, error) {
	old := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".txt") {
			rel, _ := filepath.Rel(dir, path)
			data, err := os.ReadFile(path)
			old[rel] = data
			return err
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	for n := range old {
		if _, ok := files[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		was, hadOld := old[n]
		now, hasNew := files[n]
		switch {
		case !hadOld:
			fmt.Fprintf(&b, "+++ %s (new package)\n", filepath.Join(dir, n))
		case !hasNew:
			fmt.Fprintf(&b, "--- %s (package gone)\n", filepath.Join(dir, n))
		case !bytes.Equal(was, now):
			fmt.Fprintf(&b, "%s:\n", filepath.Join(dir, n))
		default:
			continue
		}
		writeLineDiff(&b, lines(was), lines(now))
	}
	return b.String(), nil
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// writeLineDiff writes the lines only in was as "-" and only in now as "+".
// Snapshot lines are sorted and unique, so a set difference is the diff.
func writeLineDiff(w io.Writer, was, now []string) {
	in := func(set []string) map[string]bool {
		m := make(map[string]bool, len(set))
		for _, l := range set {
			m[l] = true
		}
		return m
	}
	wasSet, nowSet := in(was), in(now)
	for _, l := range was {
		if !nowSet[l] {
			fmt.Fprintf(w, "-%s\n", l)
		}
	}
	for _, l := range now {
		if !wasSet[l] {
			fmt.Fprintf(w, "+%s\n", l)
		}
	}
}
