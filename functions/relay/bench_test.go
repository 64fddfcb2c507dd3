package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// BenchmarkDedupeWindow is the dedupe window holding RELAY_BENCH_DEDUPE_IDS
// ids (default 1,000,000; `go run ./bench relay` prints it): the memory
// per id and the cost of one lookup of a remembered id (a redelivery) and
// of one new id (begin + finish, evicting the oldest).
func BenchmarkDedupeWindow(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("RELAY_BENCH_DEDUPE_IDS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	id := func(i int) string {
		return "sqs\x00" + strconv.FormatInt(int64(1e12+i), 36) + "-4c2e-9b7d-2f61e0a5c3d8"
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := newWindow(time.Hour, n, int64(n)*(64+seenOverhead))
	for i := range n {
		w.begin(id(i))
		w.finish(id(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	sample := make([]string, 4096)
	for i := range sample {
		sample[i] = id(i * 7919 % n)
	}
	b.Run("lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if w.begin(sample[i%len(sample)]) != seen {
				b.Fatal("remembered id not seen")
			}
			i++
		}
		// After the loop: b.Loop's first call resets reported metrics.
		b.ReportMetric(heap/float64(n), "heap-bytes/id")
		b.ReportMetric(heap/(1<<20), "heap-MB")
	})
	b.Run("new", func(b *testing.B) {
		i := n
		for b.Loop() {
			w.begin(id(i))
			w.finish(id(i))
			i++
		}
	})
}

// nopSender accepts every send without a call.
type nopSender struct{}

func (nopSender) SendToAll(context.Context, wps.Message, *wps.SendOptions) error { return nil }
func (nopSender) SendToUser(context.Context, string, wps.Message, *wps.SendOptions) error {
	return nil
}
func (nopSender) SendToGroup(context.Context, string, wps.Message, *wps.SendOptions) error {
	return nil
}
func (nopSender) SendToConnection(context.Context, string, wps.Message, *wps.SendOptions) error {
	return nil
}

// BenchmarkHandle is the relay's own cost per message (envelope, dedupe
// window, timeout, log line) around a send that costs nothing.
func BenchmarkHandle(b *testing.B) {
	r := newRelay(Config{}.withDefaults(), nopSender{}, slog.New(slog.DiscardHandler))
	body := []byte(`{"to":"group","id":"orders","json":{"order":42,"status":"shipped"}}`)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if err := r.Handle(ctx, faas.Message{ID: strconv.Itoa(i), Trigger: faas.TriggerSQS, Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSQSBatch is the relay's whole cost per SQS batch of ten as
// `go run ./bench relay` drives it (faas.Handler decoding the event, the
// batch's lanes, Handle, the answer) around sends that cost nothing.
func BenchmarkSQSBatch(b *testing.B) {
	r := newRelay(Config{}.withDefaults(), nopSender{}, slog.New(slog.DiscardHandler))
	h := faas.Handler(r.Function(), faas.HostLocal)
	body := `{"to":"group","id":"orders","json":{"order":42,"status":"shipped"}}`
	i := 0
	event := func() []byte {
		var recs []events.SQSMessage
		for range 10 {
			i++
			recs = append(recs, events.SQSMessage{MessageId: "m-" + strconv.Itoa(i), Body: body, EventSource: "aws:sqs",
				EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:relay", AWSRegion: "us-east-1",
				Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1764633600000"}})
		}
		raw, _ := json.Marshal(events.SQSEvent{Records: recs})
		return raw
	}
	raws := make([][]byte, 1024)
	for k := range raws {
		raws[k] = event()
	}
	k := 0
	for b.Loop() {
		if k == len(raws) { // fresh ids, or the window drops them as duplicates
			b.StopTimer()
			for k := range raws {
				raws[k] = event()
			}
			k = 0
			b.StartTimer()
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(raws[k])))
		k++
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"batchItemFailures":[]`) {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
