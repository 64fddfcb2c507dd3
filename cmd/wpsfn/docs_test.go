package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// TestDocs runs the commands the documentation and the `make run` banner
// give a new user against a live `wpsfn dev`, so they cannot drift from
// the code.
//
// Every shell block (```sh) of README.md and docs/*.md carries a mark on
// the line right before its fence, and an unmarked block fails the test:
//
//	<!-- runnable -->          run with `make run` running
//	<!-- runnable: servers --> each line starts a server that runs until Ctrl-C
//	<!-- not run: REASON -->   a cloud deployment, a placeholder, a benchmark...
//
// A runnable block runs in bash with -e and pipefail from the repository
// root, as a user would paste it into a second terminal: the banner's
// export lines already pasted (WEBPUBSUB_CONNECTION_STRING, WEBPUBSUB_HUB),
// the addresses rewritten to the test's stack (localhost:8080 to its
// emulator, 7071... to its functions), `go run ./cmd/wpsfn` a binary built
// once. It fails on a non-zero exit or output that reads as an error.
// Whole-line comments right after a command are what it prints: each must
// appear in the output ("..." matches anything; addresses match any port).
//
// In a servers block each command is started on its own (`wpsfn emulator`
// and `wpsfn dev` on free ports), must print the comment lines after it,
// then gets Ctrl-C and must exit 0 without error output.
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
	bin, err := faastest.Build("./cmd/wpsfn")
	if err != nil {
		t.Fatal(err)
	}
	st := startDev(t, 0)

	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var blocks []docBlock
	for _, f := range files {
		b, err := shellBlocks(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b...)
	}
	rewrite := strings.NewReplacer(append([]string{
		"go run ./cmd/wpsfn", bin,
		"localhost:8080", strings.TrimPrefix(st.BaseURL, "http://"),
		"127.0.0.1:8080", strings.TrimPrefix(st.BaseURL, "http://"),
	}, functionPorts(st)...)...)
	env := []string{"WEBPUBSUB_CONNECTION_STRING=" + st.ConnectionString, "WEBPUBSUB_HUB=" + st.Hub}
	runnable := 0
	for _, b := range blocks {
		switch {
		case b.mark == "runnable":
			runnable++
			t.Run(b.name, func(t *testing.T) {
				script := rewrite.Replace(b.script)
				out := runShell(t, root, env, script)
				for _, c := range docCommands(script) {
					for _, want := range c.prints {
						if !printed(out, want) {
							t.Errorf("%s\ndoes not print %q (the comment after it says so); it printed:\n%s", c.line, want, out)
						}
					}
				}
			})
		case b.mark == "runnable: servers":
			runnable++
			for i, c := range docCommands(rewrite.Replace(b.script)) {
				t.Run(fmt.Sprintf("%s server %d", b.name, i+1), func(t *testing.T) {
					runServer(t, root, env, freePorts(c.line), c.prints)
				})
			}
		case strings.HasPrefix(b.mark, "not run: ") && len(b.mark) > len("not run: "):
		default:
			t.Errorf("%s: a shell block without a mark; put <!-- runnable -->, <!-- runnable: servers --> or <!-- not run: why --> on the line before its fence", b.name)
		}
	}
	if runnable == 0 {
		t.Fatal("no runnable block found")
	}

	// The banner's commands, pasted as printed: the export lines, then
	// what a user runs with them, and each line after "Try:".
	var banner bytes.Buffer
	printDevBanner(&banner, st, 0)
	var exports, tries []string
	inTry := false
	for sc := bufio.NewScanner(&banner); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "Try:"); ok {
			inTry, line = true, strings.TrimSpace(rest)
		} else if inTry && !strings.HasPrefix(sc.Text(), "        ") {
			inTry = false
		}
		switch {
		case strings.HasPrefix(line, "export "):
			exports = append(exports, line)
		case inTry:
			tries = append(tries, line)
		case strings.HasPrefix(line, "negotiate"):
			tries = append(tries, "curl '"+strings.Replace(strings.Fields(line)[1], "NAME", "alice", 1)+"'")
		case strings.HasPrefix(line, "broadcast-schedule"):
			tries = append(tries, "curl -X POST "+strings.Fields(line)[1])
		}
	}
	if len(exports) != 2 || len(tries) != 4 {
		t.Fatalf("banner: exports %q, commands %q; want the two variables and four commands\n%s", exports, tries, banner.String())
	}
	for i, cmd := range tries {
		t.Run("banner "+strings.Fields(cmd)[0]+" "+string(rune('1'+i)), func(t *testing.T) {
			// --fail-with-body: an HTTP error is a failure, its body shown.
			runShell(t, root, nil, strings.Replace(cmd, "curl ", "curl --fail-with-body -sS ", 1))
		})
	}
	t.Run("banner variables", func(t *testing.T) {
		// Nothing in the test's environment: only what the pasted lines set.
		runShell(t, root, []string{"WEBPUBSUB_CONNECTION_STRING=", "WEBPUBSUB_HUB="},
			strings.Join(exports, "\n")+"\n"+bin+" send --to all --text 'hello from the banner'\n"+bin+" token --user alice\n")
	})
}

// docBlock is one shell block and its mark ("" when it has none).
type docBlock struct {
	name, mark, script string
}

var (
	fence   = regexp.MustCompile("^(\\s*)```(sh|bash|shell|console)\\s*$")
	docMark = regexp.MustCompile(`^\s*<!-- (.+?) -->\s*$`)
)

// shellBlocks returns the shell blocks of path, dedented to their fence.
func shellBlocks(path string) ([]docBlock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	var out []docBlock
	for i := 0; i < len(lines); i++ {
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		mark := ""
		if i > 0 {
			if mm := docMark.FindStringSubmatch(lines[i-1]); mm != nil {
				mark = mm[1]
			}
		}
		start := i + 1
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], m[1]))
		}
		out = append(out, docBlock{name: filepath.Base(path) + ":" + strconv.Itoa(start), mark: mark, script: strings.Join(body, "\n") + "\n"})
	}
	return out, nil
}

// docCommand is a command of a block and the lines it prints (the
// whole-line comments right after it).
type docCommand struct {
	line   string
	prints []string
}

func docCommands(script string) []docCommand {
	var cmds []docCommand
	cont := false
	for _, l := range strings.Split(script, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "":
		case cont:
			cmds[len(cmds)-1].line += "\n" + l
		case strings.HasPrefix(t, "#"):
			if len(cmds) > 0 {
				cmds[len(cmds)-1].prints = append(cmds[len(cmds)-1].prints, strings.TrimSpace(strings.TrimPrefix(t, "#")))
			}
			continue
		default:
			cmds = append(cmds, docCommand{line: l})
		}
		cont = strings.HasSuffix(t, "\\")
	}
	return cmds
}

var anyPort = regexp.MustCompile(`(localhost|127\.0\.0\.1):\d+`)

// printed reports whether out has a line containing want, where "..." in
// want matches anything and an address matches any port.
func printed(out, want string) bool {
	norm := func(s string) string { return anyPort.ReplaceAllString(s, "HOST:PORT") }
	parts := strings.Split(norm(want), "...")
	for _, line := range strings.Split(norm(out), "\n") {
		rest, ok := line, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// freePorts starts `wpsfn emulator` and `wpsfn dev` on free ports, so a
// documented server can run beside the test's stack (and a `make run`).
func freePorts(line string) string {
	m := serverCommand.FindStringSubmatchIndex(line)
	if m == nil || strings.Contains(line, "--addr") {
		return line
	}
	extra := " --addr localhost:0"
	if line[m[2]:m[3]] == "dev" {
		extra += " --port-base 0"
	}
	return line[:m[1]] + extra + line[m[1]:]
}

var serverCommand = regexp.MustCompile(`wpsfn (emulator|dev)\b`)

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
var errorOutput = regexp.MustCompile(`(?i)\berror\b|level=(warn|error)|refused|not found|must be|cannot|invalid|syntax|unexpected`)

// checkShell runs script in bash (-e, pipefail) in dir with env added and
// returns its output, or why it failed: a non-zero exit or output that
// reads as an error.
func checkShell(dir string, env []string, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	if m := errorOutput.Find(out); m != nil {
		return string(out), fmt.Errorf("output reads as an error (%q)\nscript:\n%s\noutput:\n%s", m, script, out)
	}
	return string(out), nil
}

func runShell(t *testing.T, dir string, env []string, script string) string {
	t.Helper()
	out, err := checkShell(dir, env, script)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("script:\n%s\noutput:\n%s", script, out)
	return out
}

// runServer starts line, waits until it has printed every line of prints,
// interrupts it as Ctrl-C does and expects a clean exit.
func runServer(t *testing.T, dir string, env []string, line string, prints []string) {
	t.Helper()
	if len(prints) == 0 {
		t.Fatalf("%s: a server command needs what it prints once it serves, as comment lines after it", line)
	}
	cmd := exec.Command("bash", "-c", "exec "+line) // exec: the interrupt reaches the server itself
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()
	all := func() bool {
		for _, p := range prints {
			if !printed(out.String(), p) {
				return false
			}
		}
		return true
	}
	deadline := time.After(30 * time.Second)
	for !all() {
		select {
		case err := <-exited:
			t.Fatalf("%s exited (%v) before printing %q; output:\n%s", line, err, prints, out.String())
		case <-deadline:
			t.Fatalf("%s has not printed %q within 30s; output:\n%s", line, prints, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%s: after Ctrl-C: %v; output:\n%s", line, err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still running 20s after Ctrl-C; output:\n%s", line, out.String())
	}
	if m := errorOutput.FindString(out.String()); m != "" {
		t.Fatalf("%s: output reads as an error (%q):\n%s", line, m, out.String())
	}
	t.Logf("%s\n%s", line, out.String())
}

// The README test's own checks fail when they should: a non-zero exit,
// an error printed with exit 0, a comment that is not what a command
// prints, and an unmarked block.
func TestDocsChecksFail(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	for script, fails := range map[string]bool{
		"echo ok\n":                   false,
		"false\necho ok\n":            true,
		"echo 'Error: no such hub'\n": true,
		"curl() { echo 'HTTP 415: Content-Type must be application/json'; }; curl x\n": true,
		"echo 'level=WARN msg=x'\n": true,
		"echo a (b)\n":              true, // a syntax error: a comment not marked as one
	} {
		if _, err := checkShell(t.TempDir(), nil, script); (err != nil) != fails {
			t.Errorf("%q: error %v, want failure %t", script, err, fails)
		}
	}
	cmds := docCommands("curl -fsS http://localhost:8080/config.json\n# {\"hub\":\"chat\",...}\nwpsfn token \\\n  --user a   # a note\n")
	if len(cmds) != 2 || len(cmds[0].prints) != 1 || len(cmds[1].prints) != 0 || !strings.Contains(cmds[1].line, "--user a") {
		t.Fatalf("docCommands = %q", cmds)
	}
	if !printed("x\n{\"hub\":\"chat\",\"limits\":{}}\n", cmds[0].prints[0]) || printed("{\"hub\":\"lobby\"}", cmds[0].prints[0]) {
		t.Error("printed matches the wrong lines")
	}
	if !printed("listening on http://localhost:39123", "listening on http://localhost:8080") {
		t.Error("printed does not let an address have another port")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.md"), []byte("text\n\n```sh\nmake it\n```\n<!-- not run: cloud -->\n  ```sh\n  aws x\n  ```\n"), 0o600)
	b, err := shellBlocks(filepath.Join(dir, "a.md"))
	if err != nil || len(b) != 2 || b[0].mark != "" || b[1].mark != "not run: cloud" || b[1].script != "aws x\n" {
		t.Errorf("shellBlocks = %+v, %v", b, err)
	}
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
