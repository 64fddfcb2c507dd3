package web

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/emulator"
)

// sseEvent is one Server-Sent Event read from a stream.
type sseEvent struct {
	name string
	data string
}

// readSSE reads events from body into a channel until it ends.
func readSSE(body io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

func openStream(t *testing.T, url string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("stream answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return readSSE(resp.Body), func() { cancel(); resp.Body.Close() }
}

func nextNamed(t *testing.T, ch <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended before a %q event", name)
			}
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within 5s", name)
		}
	}
}

// waitSubscribed waits until the stream is registered, so events published
// afterwards are guaranteed to reach it.
func waitSubscribed(t *testing.T, tr *Trace, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for tr.nsubs.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers = %d, want %d", tr.nsubs.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTraceStreamsBatches(t *testing.T) {
	tr := &Trace{FlushInterval: 20 * time.Millisecond}
	srv := httptest.NewServer(tr)
	defer srv.Close()
	defer tr.Close()

	early := time.Date(2026, 11, 27, 3, 59, 0, 0, time.UTC)
	tr.Publish(emulator.TraceEvent{Time: early, Kind: "frame-in", Summary: "before anyone watches", Detail: `{"type":"joinGroup"}`})
	ch, stop := openStream(t, srv.URL)
	defer stop()
	waitSubscribed(t, tr, 1)
	var h Batch
	if err := json.Unmarshal([]byte(nextNamed(t, ch, "history").data), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 1 || h.Events[0].S != "before anyone watches" || !h.Events[0].D {
		t.Fatalf("history = %+v, want the event published before the stream opened", h.Events)
	}

	when := time.Date(2026, 11, 27, 4, 0, 0, 123_000_000, time.UTC)
	tr.Publish(emulator.TraceEvent{Time: when, Kind: "upstream", Hub: "chat", ConnectionID: "c1", UserID: "alice",
		Summary: "POST message → 200", Status: 200, Latency: 1500 * time.Microsecond})
	// Published last but started first: the batch puts it first.
	tr.Publish(emulator.TraceEvent{Time: when.Add(-time.Millisecond), Kind: "group-join", Hub: "chat", ConnectionID: "c1", Group: "lobby"})

	var b Batch
	if err := json.Unmarshal([]byte(nextNamed(t, ch, "batch").data), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 2 {
		t.Fatalf("batch has %d events, want 2: %+v", len(b.Events), b.Events)
	}
	up := b.Events[1]
	if up.K != "upstream" || up.H != "chat" || up.C != "c1" || up.U != "alice" || up.St != 200 ||
		up.S != "POST message → 200" || up.L != 1.5 || up.T != float64(when.UnixMilli()) {
		t.Errorf("upstream event on the wire = %+v", up)
	}
	if b.Events[0].K != "group-join" || b.Events[0].G != "lobby" {
		t.Errorf("group event on the wire = %+v", b.Events[0])
	}
	if b.Total != 3 || b.Dropped != 0 {
		t.Errorf("total, dropped = %d, %d; want 3, 0", b.Total, b.Dropped)
	}
}

func TestTraceBoundsBatchesAndCountsDrops(t *testing.T) {
	// A long interval so every event below lands in one batch.
	tr := &Trace{FlushInterval: 300 * time.Millisecond, MaxBatch: 100}
	srv := httptest.NewServer(tr)
	defer srv.Close()
	defer tr.Close()
	ch, stop := openStream(t, srv.URL)
	defer stop()
	waitSubscribed(t, tr, 1)

	// A flood from many goroutines, as the emulator calls Trace.
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				tr.Publish(emulator.TraceEvent{Kind: "frame-out", Summary: fmt.Sprintf("g%d-%d", g, i)})
			}
		}()
	}
	wg.Wait()
	var sent, dropped uint64
	for sent+dropped < 1000 {
		var b Batch
		if err := json.Unmarshal([]byte(nextNamed(t, ch, "batch").data), &b); err != nil {
			t.Fatal(err)
		}
		if len(b.Events) > 100 {
			t.Fatalf("batch of %d events exceeds MaxBatch 100", len(b.Events))
		}
		sent += uint64(len(b.Events))
		dropped += b.Dropped
	}
	if sent+dropped != 1000 || dropped == 0 {
		t.Errorf("sent %d + dropped %d, want 1000 in all with some dropped", sent, dropped)
	}
}

func TestTraceSnapshotAndClose(t *testing.T) {
	tr := &Trace{
		FlushInterval:    10 * time.Millisecond,
		SnapshotInterval: 20 * time.Millisecond,
		Snapshot: func() emulator.Snapshot {
			return emulator.Snapshot{Hubs: []emulator.HubSnapshot{{Name: "chat",
				Connections: []emulator.ConnectionSnapshot{{ID: "c1", UserID: "bob", Protocol: "json.reliable.webpubsub.azure.v1", Groups: []string{"lobby"}}},
				Groups:      map[string][]string{"lobby": {"c1"}},
			}}}
		},
	}
	srv := httptest.NewServer(tr)
	defer srv.Close()
	ch, stop := openStream(t, srv.URL)
	defer stop()

	for range 2 { // one on subscribe, one from the timer
		var s emulator.Snapshot
		if err := json.Unmarshal([]byte(nextNamed(t, ch, "snapshot").data), &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Hubs) != 1 || s.Hubs[0].Connections[0].UserID != "bob" || s.Hubs[0].Groups["lobby"][0] != "c1" {
			t.Fatalf("snapshot = %+v", s)
		}
	}

	tr.Close()
	deadline := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-deadline:
			t.Fatal("stream still open after Close")
		}
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: status %d, want 503", resp.StatusCode)
	}
}

func TestTraceRejectsNonGET(t *testing.T) {
	rec := httptest.NewRecorder()
	(&Trace{}).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
		t.Errorf("POST: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestHandlerServesPages(t *testing.T) {
	tr := &Trace{}
	defer tr.Close()
	srv := httptest.NewServer(Handler(Options{NegotiateURL: "/negotiate", Hub: "chat", Trace: tr}))
	defer srv.Close()
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `src="/static/chat.js"`},
		{"/trace", "text/html", "live trace"},
		{"/static/wps-client.js", "text/javascript", "json.reliable.webpubsub.azure.v1"},
		{"/static/chat.js", "text/javascript", `"message"`},
		{"/static/trace.js", "text/javascript", "EventSource"},
		{"/static/style.css", "text/css", "--accent"},
		{"/config.json", "application/json", `"negotiateUrl":"/negotiate"`},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("%s: %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("%s: body lacks %q", tc.path, tc.contains)
		}
	}
	var cfg Config
	resp, _ := http.Get(srv.URL + "/config.json")
	json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if cfg != (Config{NegotiateURL: "/negotiate", Hub: "chat", TraceURL: "/trace/events"}) {
		t.Errorf("config = %+v", cfg)
	}
	resp, _ = http.Get(srv.URL + "/nope")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/nope: %d, want 404", resp.StatusCode)
	}
}

// TestPagesAreSelfContained checks every embedded file for references to
// other hosts: the pages must work offline.
func TestPagesAreSelfContained(t *testing.T) {
	for _, name := range []string{"index.html", "trace.html", "chat.js", "trace.js", "wps-client.js", "style.css"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q: the pages must load nothing from elsewhere", name, bad)
			}
		}
	}
}

// The history is bounded in events and in bytes, sorted by start time, and
// serves each kept event's detail until it is evicted.
func TestTraceHistoryBoundsAndDetail(t *testing.T) {
	tr := &Trace{HistoryEvents: 100, HistoryBytes: 64 << 10}
	defer tr.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /trace/events/{id}", http.HandlerFunc(tr.ServeDetail))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		// Every tenth event started earlier than the ones before it (a long call).
		at := base.Add(time.Duration(i) * time.Millisecond)
		if i%10 == 9 {
			at = at.Add(-5 * time.Millisecond)
		}
		tr.Publish(emulator.TraceEvent{Time: at, Kind: "frame-out", Summary: fmt.Sprint("e", i), Detail: fmt.Sprintf(`{"n":%d}`, i)})
	}
	tr.mu.Lock()
	n, size := len(tr.hist), tr.histLen
	sorted := slices.IsSortedFunc(tr.hist, func(a, b kept) int { return cmp.Compare(a.ev.T, b.ev.T) })
	newest := tr.hist[len(tr.hist)-1].ev.ID
	tr.mu.Unlock()
	if n != 100 || !sorted || size > 64<<10 {
		t.Fatalf("history holds %d events (%d bytes), sorted %t; want 100, sorted", n, size, sorted)
	}
	get := func(id uint64) (int, string) {
		resp, err := http.Get(fmt.Sprintf("%s/trace/events/%d", srv.URL, id))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(newest); st != 200 || !strings.HasPrefix(body, `{"n":`) {
		t.Errorf("detail of a kept event: %d %q", st, body)
	}
	if st, body := get(1); st != 404 || !strings.Contains(body, "no longer kept") {
		t.Errorf("detail of an evicted event: %d %q", st, body)
	}

	// Big details: the byte bound wins over the count.
	big := &Trace{HistoryEvents: 1000, HistoryBytes: 100 << 10}
	for range 50 {
		big.Publish(emulator.TraceEvent{Time: time.Now(), Kind: "rest", Detail: strings.Repeat("x", 10<<10)})
	}
	big.mu.Lock()
	defer big.mu.Unlock()
	if len(big.hist) > 10 || big.histLen > 100<<10 {
		t.Errorf("history of 10 KiB events holds %d (%d bytes); want at most 100 KiB", len(big.hist), big.histLen)
	}
}

// The trace shows every user's messages: it is served to this machine only
// unless TracePublic.
func TestTraceLoopbackOnly(t *testing.T) {
	tr := &Trace{}
	defer tr.Close()
	for _, tc := range []struct {
		name   string
		public bool
		remote string
		want   int
	}{
		{"loopback", false, "127.0.0.1:5000", 200},
		{"loopback v6", false, "[::1]:5000", 200},
		{"other host", false, "192.0.2.7:5000", 403},
		{"other host, public", true, "192.0.2.7:5000", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Handler(Options{Trace: tr, TracePublic: tc.public})
			req := httptest.NewRequest(http.MethodGet, "/trace", nil)
			req.RemoteAddr = tc.remote
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("GET /trace from %s: %d %q, want %d", tc.remote, rec.Code, rec.Body.String(), tc.want)
			}
			if tc.want == 403 && !strings.Contains(rec.Body.String(), "--trace-public") {
				t.Errorf("refusal %q does not say how to allow it", rec.Body.String())
			}
		})
	}
}
