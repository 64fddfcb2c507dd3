// Command testfn is a small function served by faas.Run, for pkg/faas's host
// tests (Lambda RIE, Azure custom handler contract, local mode). TESTFN_MODE
// picks it: "http" (default) echoes each request as JSON and answers the Web
// PubSub abuse-protection handshake; "schedule" reports each ScheduleEvent by
// POSTing it as JSON to TESTFN_RECORD_URL, and fails when the payload holds
// "fail"; "both" is the two at once.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/pkg/faas"
)

// Echo is what the HTTP function answers: the request as it reached it.
type Echo struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
	Raw    []byte              `json:"raw"` // the body, exactly (base64 in JSON)
}

func main() {
	name := os.Getenv("TESTFN_NAME")
	if name == "" {
		name = "echo"
	}
	fn := faas.Function{Name: name}
	mode := os.Getenv("TESTFN_MODE")
	if mode == "" || mode == "http" || mode == "both" {
		fn.HTTP = http.HandlerFunc(echo)
	}
	if mode == "schedule" || mode == "both" {
		fn.Scheduled = record(os.Getenv("TESTFN_RECORD_URL"))
	}
	faas.Run(fn)
}

func echo(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions && r.Header.Get("WebHook-Request-Origin") != "" {
		w.Header().Set("WebHook-Allowed-Origin", r.Header.Get("WebHook-Request-Origin"))
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/panic") {
		panic("testfn: asked to panic")
	}
	if strings.HasSuffix(r.URL.Path, "/slow") {
		time.Sleep(500 * time.Millisecond)
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Testfn", "1")
	http.SetCookie(w, &http.Cookie{Name: "seen", Value: "yes"})
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(Echo{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header, Body: string(body), Raw: body})
}

func record(url string) func(ctx context.Context, ev faas.ScheduleEvent) error {
	return func(ctx context.Context, ev faas.ScheduleEvent) error {
		if bytes.Contains(ev.Raw, []byte("fail")) {
			return fmt.Errorf("testfn: asked to fail")
		}
		if url == "" {
			return nil
		}
		b, _ := json.Marshal(ev)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("testfn: record: %w", err)
		}
		resp.Body.Close()
		return nil
	}
}
