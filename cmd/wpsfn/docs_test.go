package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocs runs the commands the documentation and the `make run` banner
// give a new user against a live `wpsfn dev`, so they cannot drift from
// the code.
//
// The marker: a shell block (```sh) of README.md or docs/*.md is run when
// the line right before its fence is exactly
//
//	<!-- runnable -->
//
// Blocks without it are not run: cloud deployments, long-running servers,
// placeholders such as <name>. A runnable block assumes `make run` with its
// defaults; before it runs, only the addresses are rewritten (localhost:8080
// to the test's emulator, 7071... to its functions' ports) and `go run
// ./cmd/wpsfn` becomes a binary built once. Each block runs in bash with -e
// and pipefail from the repository root; it fails on a non-zero exit or
// output that reads as an error.
func TestDocs(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wpsfn")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	st := startDev(t, 0)

	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var blocks []docBlock
	for _, f := range files {
		b, err := runnableBlocks(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b...)
	}
	if len(blocks) == 0 {
		t.Fatal("no runnable block found: the marker is <!-- runnable --> before a ```sh fence")
	}
	rewrite := strings.NewReplacer(append([]string{
		"go run ./cmd/wpsfn", bin,
		"localhost:8080", strings.TrimPrefix(st.BaseURL, "http://"),
		"127.0.0.1:8080", strings.TrimPrefix(st.BaseURL, "http://"),
	}, functionPorts(st)...)...)
	for _, b := range blocks {
		t.Run(b.name, func(t *testing.T) {
			runShell(t, root, rewrite.Replace(b.script))
		})
	}

	// The banner's commands, as printed.
	var banner bytes.Buffer
	printDevBanner(&banner, st, 0)
	var exports []string
	var tries []string
	for sc := bufio.NewScanner(&banner); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "WEBPUBSUB_"):
			exports = append(exports, "export "+line)
		case strings.HasPrefix(line, "Try:"):
			tries = append(tries, strings.TrimSpace(strings.TrimPrefix(line, "Try:")))
		case strings.HasPrefix(line, "negotiate"):
			tries = append(tries, "curl '"+strings.Replace(strings.Fields(line)[1], "NAME", "alice", 1)+"'")
		case strings.HasPrefix(line, "broadcast-schedule"):
			tries = append(tries, "curl -X POST "+strings.Fields(line)[1])
		}
	}
	if len(exports) != 2 || len(tries) != 3 {
		t.Fatalf("banner: exports %q, commands %q; want the two variables and three commands\n%s", exports, tries, banner.String())
	}
	for i, cmd := range tries {
		t.Run("banner "+strings.Fields(cmd)[0]+" "+string(rune('1'+i)), func(t *testing.T) {
			// --fail-with-body: an HTTP error is a failure, its body shown.
			runShell(t, root, strings.Replace(cmd, "curl ", "curl --fail-with-body -sS ", 1))
		})
	}
	t.Run("banner variables", func(t *testing.T) {
		runShell(t, root, strings.Join(exports, "\n")+"\n"+bin+" send --to all --text 'hello from the banner'\n"+bin+" token --user alice\n")
	})
}

// docBlock is one runnable shell block.
type docBlock struct {
	name, script string
}

// runnableBlocks returns the ```sh blocks of path preceded by the marker.
func runnableBlocks(path string) ([]docBlock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var out []docBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" || i == 0 || strings.TrimSpace(lines[i-1]) != "<!-- runnable -->" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		out = append(out, docBlock{name: filepath.Base(path) + ":" + strconv.Itoa(start), script: strings.Join(lines[start:i], "\n") + "\n"})
	}
	return out, nil
}

// functionPorts maps the default function ports (--port-base 7071) to the
// test stack's.
func functionPorts(st *devStack) []string {
	var r []string
	for i, name := range devFunctions {
		port := strconv.Itoa(7071 + i)
		addr := strings.TrimPrefix(st.Functions[name], "http://")
		r = append(r, "localhost:"+port, addr, "127.0.0.1:"+port, addr)
	}
	return r
}

// errorOutput is output that reads as a failure even when the exit status
// is 0 (a curl without --fail, a warning logged).
var errorOutput = regexp.MustCompile(`(?i)\berror\b|level=(warn|error)|refused|not found|must be|cannot|invalid`)

func runShell(t *testing.T, dir, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	if m := errorOutput.Find(out); m != nil {
		t.Fatalf("output reads as an error (%q)\nscript:\n%s\noutput:\n%s", m, script, out)
	}
	t.Logf("script:\n%s\noutput:\n%s", script, out)
}

// The gcloud commands `make deploy-gcp` prints paste as they are: an
// argument a shell would expand (the schedule's *s, {}) is quoted.
func TestDeployGCPPrintsPasteableCommands(t *testing.T) {
	for _, tool := range []string{"bash", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	out, err := exec.Command("make", "-s", "-C", "../..", "deploy-gcp").Output()
	if err != nil {
		t.Fatalf("make deploy-gcp: %v\n%s", err, out)
	}
	var line string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "gcloud scheduler jobs create") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no scheduler command printed:\n%s", out)
	}
	// Split the printed line the way a shell would, in an empty directory so
	// an unquoted * would match nothing or, worse, files.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a-file"), nil, 0o600)
	cmd := exec.Command("bash", "-c", `eval "set -- $LINE"; printf '%s\n' "$@"`)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LINE="+line)
	args, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(args)), "\n")
	want := []string{"--schedule=*/5 * * * *", "--message-body={}"}
	for _, w := range want {
		found := false
		for _, a := range got {
			found = found || a == w
		}
		if !found {
			t.Errorf("pasting %q gives the arguments %q; want %q among them", line, got, w)
		}
	}
}
