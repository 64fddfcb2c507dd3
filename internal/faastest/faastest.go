// Package faastest runs function binaries the way each host does, for
// pkg/faas's host tests and the cold-start benchmark: built with the Lambda
// flags, under the real AWS Lambda Runtime Interface Emulator, as an Azure
// Functions custom handler (FUNCTIONS_CUSTOMHANDLER_PORT, readiness on GET /)
// or in local mode ($PORT).
package faastest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/wpsfn/wpsfn/internal/httprec"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// ModuleRoot is the repository root (where go.mod is).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildFlags are the flags of `make package-lambda`.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
	buildDir   string
)

// Build compiles the main package pkg (e.g. "./cmd/connect", relative to the
// module root) for this machine with the Lambda release flags, once per
// process, and returns the binary's path.
func Build(pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p, nil
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "wpsfn-hosttest-")
		if err != nil {
			return "", err
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_"))
	if err := BuildTo(context.Background(), ModuleRoot(), pkg, out, runtime.GOOS, runtime.GOARCH); err != nil {
		return "", err
	}
	buildCache[pkg] = out
	return out, nil
}

// BuildTo compiles the main package pkg of the module in dir for goos/goarch
// with the Lambda release flags (CGO off) into out. Build and the
// cold-start benchmark use it.
func BuildTo(ctx context.Context, dir, pkg, out, goos, goarch string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	args := append([]string{"build", "-o", out}, BuildFlags...)
	cmd := exec.CommandContext(ctx, gobin, append(args, pkg)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (%s/%s): %v\n%s", pkg, goos, goarch, err, b)
	}
	return nil
}

// Cleanup removes the binaries Build made; call it from TestMain after m.Run.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
		buildCache = map[string]string{}
	}
}

// MustBuild is Build that fails t.
func MustBuild(t testing.TB, pkg string) string {
	t.Helper()
	p, err := Build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// RIE returns the path of the Runtime Interface Emulator built by
// `make test-deps`; it skips t when it is missing, or fails it under CI=true.
func RIE(t testing.TB) string {
	t.Helper()
	p := filepath.Join(ModuleRoot(), ".tools", "bin", "aws-lambda-rie")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("aws-lambda-rie is required under CI (run `make test-deps`): %v", err)
		}
		t.Skipf("aws-lambda-rie not built (run `make test-deps`): %v", err)
	}
	return p
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// Proc is a started child process whose output is kept for failure reports.
type Proc struct {
	Cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

// Start runs bin with args and env (added to a minimal environment: PATH,
// HOME, TMPDIR) and kills it when t ends.
func Start(t testing.TB, env []string, bin string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, env...)
	p := &Proc{Cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			// The process group: RIE's child bootstrap goes too.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Stop sends sig and waits up to timeout for the exit; it returns the exit
// error (nil for status 0).
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) error {
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("process did not exit within %v after %v", timeout, sig)
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// WaitHTTP polls GET url until any HTTP answer arrives (the Azure host's
// readiness rule) or timeout passes.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready after %v: %w", url, timeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// LambdaEmulator is a bootstrap running under the real RIE.
type LambdaEmulator struct {
	*Proc
	URL string // the invocation endpoint
	// client is this emulator's own: with http.DefaultClient, a POST could
	// go out on an idle connection to an earlier test's emulator, killed
	// since, that had the same port (FreePort hands out freed ones), and
	// fail with "connection reset by peer" (net/http does not retry a POST).
	client *http.Client
}

// StartRIE runs bootstrap under aws-lambda-rie on loopback ports with env.
func StartRIE(t testing.TB, bootstrap string, env ...string) *LambdaEmulator {
	t.Helper()
	rie := RIE(t)
	port, apiPort := FreePort(t), FreePort(t)
	p := Start(t, env, rie,
		"--runtime-interface-emulator-address", "127.0.0.1:"+port,
		"--runtime-api-address", "127.0.0.1:"+apiPort,
		"--log-level", "error",
		bootstrap)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	l := &LambdaEmulator{Proc: p, URL: "http://127.0.0.1:" + port + "/2015-03-31/functions/function/invocations",
		client: &http.Client{Transport: tr}}
	if err := waitTCP("127.0.0.1:"+port, 10*time.Second); err != nil {
		t.Fatalf("RIE: %v\n%s", err, p.Output())
	}
	return l
}

func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Invoke sends one event and returns the raw answer (RIE answers 200 even
// for function errors, with {"errorMessage","errorType"}).
func (l *LambdaEmulator) Invoke(t testing.TB, event any) []byte {
	t.Helper()
	var body []byte
	switch e := event.(type) {
	case []byte:
		body = e
	case string:
		body = []byte(e)
	default:
		var err error
		if body, err = json.Marshal(e); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := l.client.Post(l.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, l.Output())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: RIE answered %d: %s", resp.StatusCode, b)
	}
	return b
}

// LambdaError is the runtime's error answer.
type LambdaError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// AsLambdaError decodes b as an error answer, if it is one.
func AsLambdaError(b []byte) (LambdaError, bool) {
	var e LambdaError
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		return e, false
	}
	return e, true
}

// StreamPrelude is the head of a streamed function URL answer.
type StreamPrelude struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
}

// DecodeStream splits a streamed function URL answer
// (application/vnd.awslambda.http-integration-response) into its JSON
// prelude and body; RIE passes it through undecoded, as Lambda's front end
// would receive it.
func DecodeStream(b []byte) (StreamPrelude, []byte, error) {
	var p StreamPrelude
	i := bytes.Index(b, make([]byte, 8))
	if i < 0 {
		return p, nil, errors.New("no 8-NUL delimiter after the prelude: " + string(b))
	}
	if err := json.Unmarshal(b[:i], &p); err != nil {
		return p, nil, fmt.Errorf("prelude: %w", err)
	}
	return p, b[i+8:], nil
}

// URLEvent builds a function URL (payload format 2.0) request event as
// Lambda sends it: lower-cased headers, cookies split out, body base64 when
// it is not valid UTF-8 text.
func URLEvent(method, path, rawQuery string, header http.Header, body []byte) *events.LambdaFunctionURLRequest {
	ev := &events.LambdaFunctionURLRequest{
		Version:        "2.0",
		RawPath:        path,
		RawQueryString: rawQuery,
		Headers:        map[string]string{"host": "abcdefgh.lambda-url.eu-west-1.on.aws", "x-forwarded-proto": "https"},
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID:    "anonymous",
			RequestID:    "c5f8b8d4-0f4a-4c6e-9d1e-6a3c2f4b9e10",
			APIID:        "abcdefgh",
			DomainName:   "abcdefgh.lambda-url.eu-west-1.on.aws",
			DomainPrefix: "abcdefgh",
			Time:         time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    time.Now().UnixMilli(),
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
				Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7", UserAgent: "hosttest",
			},
		},
	}
	for k, vs := range header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					ev.Cookies = append(ev.Cookies, strings.TrimSpace(c))
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	if rawQuery != "" {
		ev.QueryStringParameters = map[string]string{}
		for _, kv := range strings.Split(rawQuery, "&") {
			k, v, _ := strings.Cut(kv, "=")
			ev.QueryStringParameters[k] = v
		}
	}
	if len(body) > 0 {
		if isText(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

func isText(b []byte) bool {
	for _, c := range string(b) {
		if c == '\uFFFD' || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
			return false
		}
	}
	return true
}

// EventBridgeRuleEvent is the envelope an EventBridge schedule rule
// (SAM `Type: Schedule` without Input) delivers.
func EventBridgeRuleEvent(at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":%q,"region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/wpsfn-broadcast-schedule"],"detail":{}}`,
		at.UTC().Format(time.RFC3339)))
}

// AzureTimerPayload is the invocation payload the Functions host sends for
// a timerTrigger binding named "timer" firing at at, as the host writes it
// (.NET round-trip timestamps with 7 fractional digits).
func AzureTimerPayload(name string, at time.Time) []byte {
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000+00:00") }
	return []byte(fmt.Sprintf(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":%q,"Next":%q,"LastUpdated":%q},"IsPastDue":false}},"Metadata":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":%q,"Next":%q,"LastUpdated":%q},"IsPastDue":false},"sys":{"MethodName":%q,"UtcNow":%q,"RandGuid":"0c4d4e47-9fb8-4b8c-9b0e-0a3f5d6b7c8d"}}}`,
		ts(at.Add(-time.Minute)), ts(at.Add(time.Minute)), ts(at.Add(-time.Minute)),
		ts(at.Add(-time.Minute)), ts(at.Add(time.Minute)), ts(at.Add(-time.Minute)),
		name, ts(at)))
}

// Recorder is a loopback HTTP server that keeps every request it gets: the
// REST API's stand-in for the functions under a host.
type Recorder = httprec.Server

// Recorded is one request a Recorder got.
type Recorded = httprec.Request

// NewRecorder starts a Recorder answering each request with status (0 = 202).
func NewRecorder(t testing.TB, status int) *Recorder {
	t.Helper()
	if status == 0 {
		status = http.StatusAccepted
	}
	return httprec.New(t, httprec.Options{Answer: httprec.Status(status)})
}
