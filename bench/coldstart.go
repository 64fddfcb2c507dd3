package main

// The cold-start part: from exec of each function binary (built as `make
// package-lambda` builds it: CGO_ENABLED=0, -tags lambda.norpc, -trimpath,
// -s -w) to its first answered event, in pkg/faas's local mode on a
// loopback port, median of COLDSTART_RUNS (default 15) runs, side by side
// with two anchors started the same way: an equivalent event handler on
// Microsoft's @azure/web-pubsub-express with Node.js, and a bare Go
// net/http server. "Answered" means a real answer to the function's own
// first event: the abuse-protection OPTIONS for connect and message (200 with
// WebHook-Allowed-Origin), a bearer-authorized broadcast (2xx, sent to a
// local REST recorder), a JWT negotiate (200), one scheduled run (204).
// The binaries and their files are in the page cache (warm disk), as on a
// host that has just pulled the code; the runtime's own init is not counted.
// Issue 4: Node/Express about 145 ms, a bare Go server about 5 ms; goal each
// function ≤ 10 ms (15× faster than Node) and each stripped linux/arm64
// Lambda binary < 12 MB.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wpsfn/wpsfn/internal/faastest"
)

func init() { register("coldstart", runColdstart) }

const (
	coldGoal      = 10 * time.Millisecond
	coldGoalRatio = 15.0
	coldGoalSize  = 12 << 20
	coldAccessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="
	coldSecret    = "coldstart-secret-0123456789"
)

var coldFunctions = []string{"connect", "message", "broadcast", "broadcast-schedule", "negotiate"}

// coldTarget is one thing to start and the request that proves it answers.
type coldTarget struct {
	name    string
	argv    []string
	dir     string
	request func(base string) *http.Request
	ok      func(*http.Response) bool
}

func runColdstart(ctx context.Context) error {
	runs := envInt("COLDSTART_RUNS", 15, 3, 1000)
	root := faastest.ModuleRoot()
	tmp, err := os.MkdirTemp("", "wpsfn-coldstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// A REST endpoint for the functions that send (broadcast, schedule).
	restURL, stopREST, err := serveLoopback(restSink(nil))
	if err != nil {
		return err
	}
	defer stopREST()
	env := []string{
		"WEBPUBSUB_CONNECTION_STRING=Endpoint=" + restURL + ";AccessKey=" + coldAccessKey + ";Version=1.0;",
		"WEBPUBSUB_HUB=chat",
		"BROADCAST_SECRET=" + coldSecret,
		"NEGOTIATE_JWT_SECRET=" + coldSecret,
		"LOG_LEVEL=error",
	}
	userJWT, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bench", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(coldSecret))
	if err != nil {
		return err
	}

	fmt.Printf("building %d functions with the Lambda flags (%s and linux/arm64)…\n", len(coldFunctions), runtime.GOARCH)
	var targets []coldTarget
	sizes := map[string]int64{}
	for _, fn := range coldFunctions {
		bin := filepath.Join(tmp, runtime.GOARCH, fn)
		if err := faastest.BuildTo(ctx, root, "./cmd/"+fn, bin, runtime.GOOS, runtime.GOARCH); err != nil {
			return err
		}
		arm := filepath.Join(tmp, "arm64", fn, "bootstrap")
		if err := faastest.BuildTo(ctx, root, "./cmd/"+fn, arm, "linux", "arm64"); err != nil {
			return err
		}
		if st, err := os.Stat(arm); err == nil {
			sizes[fn] = st.Size()
		}
		targets = append(targets, coldTarget{name: fn, argv: []string{bin}, request: coldRequest(fn, userJWT), ok: coldOK(fn)})
	}

	// Anchor: a bare Go net/http server, built the same way.
	bare := filepath.Join(tmp, "bare")
	os.MkdirAll(bare, 0o755)
	os.WriteFile(filepath.Join(bare, "go.mod"), []byte("module bare\n\ngo 1.25\n"), 0o644)
	os.WriteFile(filepath.Join(bare, "main.go"), []byte(bareServer), 0o644)
	if err := faastest.BuildTo(ctx, bare, ".", filepath.Join(tmp, "bare-server"), runtime.GOOS, runtime.GOARCH); err != nil {
		return err
	}
	bareT := coldTarget{name: "bare Go net/http", argv: []string{filepath.Join(tmp, "bare-server")}, request: coldRequest("connect", ""), ok: coldOK("connect")}

	// Anchor: @azure/web-pubsub-express on Node.js.
	var nodeT *coldTarget
	if node, err := exec.LookPath("node"); err == nil {
		if _, err := os.Stat(filepath.Join(root, "test", "node_modules", "@azure", "web-pubsub-express")); err == nil {
			nodeT = &coldTarget{name: "node @azure/web-pubsub-express", argv: []string{node, "coldstart-express.js"}, dir: filepath.Join(root, "test"),
				request: coldRequest("connect", ""), ok: coldOK("connect")}
		}
	}
	if nodeT == nil {
		fmt.Println("node or test/node_modules missing (make test-deps): the Node.js anchor is skipped")
	}

	all := append([]coldTarget{}, targets...)
	all = append(all, bareT)
	if nodeT != nil {
		all = append(all, *nodeT)
	}
	// Interleave the runs so drift (thermal, other load) hits all alike.
	samples := map[string][]time.Duration{}
	for i := 0; i < runs; i++ {
		for _, tg := range all {
			d, err := coldOnce(ctx, tg, env)
			if err != nil {
				return fmt.Errorf("%s: %w", tg.name, err)
			}
			samples[tg.name] = append(samples[tg.name], d)
		}
	}

	med := func(name string) time.Duration { return median(samples[name]) }
	var nodeMed time.Duration
	if nodeT != nil {
		nodeMed = med(nodeT.name)
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
	fmt.Printf("exec → first answered event, median of %d runs (min–max), local mode on loopback\n", runs)
	fmt.Printf("%-32s %9s %15s %10s %11s  %s\n", "target", "median ms", "min–max ms", "node/this", "arm64 size", "goal")
	for _, tg := range all {
		s := slices.Clone(samples[tg.name])
		slices.Sort(s)
		m := med(tg.name)
		ratio := "-"
		if nodeMed > 0 && tg.name != nodeT.name {
			ratio = fmt.Sprintf("%.1fx", float64(nodeMed)/float64(m))
		}
		size, goal := "-", ""
		if sz, ok := sizes[tg.name]; ok {
			size = fmt.Sprintf("%.2f MB", float64(sz)/(1<<20))
			goal = coldVerdict(m, nodeMed, sz)
		}
		fmt.Printf("%-32s %9s %15s %10s %11s  %s\n", tg.name, ms(m), ms(s[0])+"–"+ms(s[len(s)-1]), ratio, size, goal)
	}
	fmt.Println("anchors from issue 4: Node/Express ≈145 ms, bare Go ≈5 ms on the machine that filed it")
	return nil
}

func coldRequest(fn, userJWT string) func(base string) *http.Request {
	return func(base string) *http.Request {
		var req *http.Request
		switch fn {
		case "broadcast":
			req, _ = http.NewRequest("POST", base+"/", strings.NewReader(`{"to":"all","text":"cold"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+coldSecret)
		case "broadcast-schedule":
			req, _ = http.NewRequest("POST", base+"/", nil)
		case "negotiate":
			req, _ = http.NewRequest("GET", base+"/", nil)
			req.Header.Set("Authorization", "Bearer "+userJWT)
		default: // abuse protection, the first thing the service sends
			req, _ = http.NewRequest("OPTIONS", base+"/api/connect/", nil)
			req.Header.Set("WebHook-Request-Origin", "bench.webpubsub.azure.com")
			req.Header.Set("ce-awpsversion", "1.0") // the service sends it; the express SDK requires it
		}
		return req
	}
}

func coldOK(fn string) func(*http.Response) bool {
	return func(r *http.Response) bool {
		switch fn {
		case "broadcast", "broadcast-schedule", "negotiate":
			return r.StatusCode/100 == 2
		default:
			return r.StatusCode == 200 && r.Header.Get("WebHook-Allowed-Origin") != ""
		}
	}
}

// coldOnce starts tg on a free loopback port and polls until its request is
// answered well; the time is from just before exec to that answer.
func coldOnce(ctx context.Context, tg coldTarget, env []string) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	base := "http://127.0.0.1:" + port
	cmd := exec.CommandContext(ctx, tg.argv[0], tg.argv[1:]...)
	cmd.Dir = tg.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=" + port, "HOST=127.0.0.1"}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// A fresh client per run: no connection reuse across processes.
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	deadline := start.Add(10 * time.Second)
	for {
		resp, err := client.Do(tg.request(base))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if tg.ok(resp) {
				return time.Since(start), nil
			}
			return 0, fmt.Errorf("first answer was %s, not the expected one; stderr: %s", resp.Status, strings.TrimSpace(stderr.String()))
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no answer within 10s: %v; stderr: %s", err, strings.TrimSpace(stderr.String()))
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// coldVerdict judges one function against the goals: its median cold start,
// its ratio to the Node anchor's median (0 when the anchor was not run: then
// the ratio is not judged, and the verdict says so) and its arm64 size.
func coldVerdict(m, nodeMed time.Duration, size int64) string {
	var miss, met []string
	judge := func(ok bool, name, goal string) {
		if ok {
			met = append(met, goal)
		} else {
			miss = append(miss, name)
		}
	}
	judge(m <= coldGoal, "time", "≤10 ms")
	if nodeMed > 0 {
		judge(float64(nodeMed)/float64(m) >= coldGoalRatio, "ratio", "≥15x")
	}
	judge(size < coldGoalSize, "size", "<12 MB")
	var v string
	if len(miss) > 0 {
		v = "MISSED: " + strings.Join(miss, ", ")
	} else {
		v = "met (" + strings.Join(met, ", ") + ")"
	}
	if nodeMed <= 0 {
		v += "; ≥15x not measured (no Node anchor)"
	}
	return v
}

// bareServer answers the abuse-protection OPTIONS and nothing else: the
// floor for a Go process that serves HTTP.
const bareServer = `package main

import (
	"net"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WebHook-Allowed-Origin", r.Header.Get("WebHook-Request-Origin"))
	})
	http.ListenAndServe(net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT")), nil)
}
`
