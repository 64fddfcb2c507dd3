package faas_test

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/faas"
	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
)

//go:embed testdata/messages
var messages embed.FS

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := messages.ReadFile("testdata/messages/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is a message function that keeps what it got and fails the
// messages whose body holds "transient" or "permanent".
type recorder struct {
	mu  sync.Mutex
	got []faas.Message
}

func (r *recorder) fn() faas.Function {
	return faas.Function{Name: "relay", Messages: func(ctx context.Context, m faas.Message) error {
		r.mu.Lock()
		r.got = append(r.got, m)
		r.mu.Unlock()
		switch {
		case strings.Contains(string(m.Body), "transient"):
			return errors.New("service busy")
		case strings.Contains(string(m.Body), "permanent"):
			return faas.Permanent(errors.New("bad envelope"))
		case strings.Contains(string(m.Body), "panic"):
			panic("boom")
		}
		return nil
	}}
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		out = append(out, m.ID)
	}
	return out
}

func TestLambdaMessageShapes(t *testing.T) {
	cases := []struct {
		fixture string
		want    faas.Message
	}{
		{"sns.json", faas.Message{ID: "95df01b4-ee98-5cb9-9903-4c221d41eb5e", Trigger: faas.TriggerSNS,
			Body:       []byte(`{"to":"group","id":"orders","text":"order 42 shipped"}`),
			Attributes: map[string]string{"room": "orders", "subject": "shipped"}}},
		{"eventbridge.json", faas.Message{ID: "eb-1", Trigger: faas.TriggerEventBridge,
			Body:       []byte(`{"to":"group","id":"orders","json":{"order":42}}`),
			Attributes: map[string]string{"source": "com.example.orders", "detail-type": "Order Shipped"}}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			r := &recorder{}
			out, err := faas.HandleLambdaMessages(context.Background(), r.fn(), fixture(t, c.fixture))
			if err != nil || out != nil {
				t.Fatalf("answer %v, %v", out, err)
			}
			if len(r.got) != 1 || !sameMessage(r.got[0], c.want) {
				t.Fatalf("got %+v\nwant %+v", r.got, c.want)
			}
		})
	}
}

func sameMessage(a, b faas.Message) bool {
	return a.ID == b.ID && a.Trigger == b.Trigger && string(a.Body) == string(b.Body) && a.Group == b.Group &&
		a.Attempt == b.Attempt && maps.Equal(a.Attributes, b.Attributes)
}

func TestLambdaAsyncFailures(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"transient SNS", strings.Replace(string(fixture(t, "sns.json")), "order 42 shipped", "transient", 1), "service busy"},
		{"permanent SNS", strings.Replace(string(fixture(t, "sns.json")), "order 42 shipped", "permanent", 1), ""},
		{"transient EventBridge", strings.Replace(string(fixture(t, "eventbridge.json")), `"order":42`, `"transient":1`, 1), "service busy"},
		{"panic", strings.Replace(string(fixture(t, "eventbridge.json")), `"order":42`, `"panic":1`, 1), "panic: boom"},
		{"function URL", `{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}}`, "not an SQS, SNS or EventBridge event"},
		{"SQS record with a field of the wrong type", `{"Records":[{"eventSource":"aws:sqs","messageId":"a","attributes":5}]}`, "SQS event does not decode"},
		{"not JSON", `{"Records":[`, "not an SQS, SNS or EventBridge event"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			_, err := faas.HandleLambdaMessages(context.Background(), r.fn(), []byte(c.body))
			if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// sqsBatch builds an SQS event of bodies; group[i] non-empty makes record
// i a FIFO record of that group.
func sqsBatch(bodies, groups []string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		r := events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: b, EventSource: "aws:sqs",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
		if groups != nil && groups[i] != "" {
			r.Attributes["MessageGroupId"] = groups[i]
		}
		ev.Records = append(ev.Records, r)
	}
	return ev
}

func failures(resp events.SQSEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	slices.Sort(out)
	return out
}

func TestHandleSQS(t *testing.T) {
	cases := []struct {
		name           string
		bodies, groups []string
		failed         []string
		ran            []string // ids the function saw, sorted
	}{
		{"all done", []string{"a", "b", "c"}, nil, nil, []string{"m0", "m1", "m2"}},
		{"standard: only the failed", []string{"a", "transient", "permanent", "d"}, nil, []string{"m1"}, []string{"m0", "m1", "m2", "m3"}},
		{"FIFO: the rest of the group fails with it", []string{"a", "transient", "c", "d", "e"}, []string{"A", "A", "A", "B", "B"},
			[]string{"m1", "m2"}, []string{"m0", "m1", "m3", "m4"}},
		{"FIFO: permanent does not stop the group", []string{"permanent", "b"}, []string{"A", "A"}, nil, []string{"m0", "m1"}},
		{"panic is a failure", []string{"panic", "b"}, nil, []string{"m0"}, []string{"m0", "m1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			resp := faas.HandleSQS(context.Background(), r.fn(), sqsBatch(c.bodies, c.groups))
			if got := failures(resp); !slices.Equal(got, c.failed) {
				t.Fatalf("failures %v, want %v", got, c.failed)
			}
			ran := r.ids()
			slices.Sort(ran)
			if !slices.Equal(ran, c.ran) {
				t.Fatalf("ran %v, want %v", ran, c.ran)
			}
			b, _ := json.Marshal(resp)
			if c.failed == nil && string(b) != `{"batchItemFailures":[]}` {
				t.Fatalf("wire %s", b)
			}
		})
	}
}

func TestHandleSQSFIFOOrder(t *testing.T) {
	r := &recorder{}
	out, err := faas.HandleLambdaMessages(context.Background(), r.fn(), fixture(t, "sqs-fifo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(out.(events.SQSEventResponse)); f != nil {
		t.Fatalf("failures %v", f)
	}
	// Group A in order; group B anywhere.
	ids := r.ids()
	if slices.Index(ids, "f-1") > slices.Index(ids, "f-2") {
		t.Fatalf("order %v", ids)
	}
	for _, m := range r.got {
		if m.ID == "f-1" && (m.Group != "A" || m.Attempt != 1 || m.Attributes["room"] != "lobby") {
			t.Fatalf("f-1 read as %+v", m)
		}
	}
}

func TestParseAzureMessage(t *testing.T) {
	cases := []struct {
		fixture string
		want    faas.Message
	}{
		{"azure-queue-object.json", faas.Message{ID: "6f1a1b7e-2c4d-4e5f-8a9b-0c1d2e3f4a5b", Trigger: faas.TriggerAzureQueue,
			Body: []byte(`{"to":"group","id":"lobby","text":"order shipped"}`), Attempt: 1}},
		{"azure-queue-string.json", faas.Message{ID: "q-2", Trigger: faas.TriggerAzureQueue, Body: []byte(`hello from a queue`), Attempt: 3}},
		// An envelope as the host sends any queue message: the JSON of the string, in a JSON string.
		{"azure-queue-json-string.json", faas.Message{ID: "q-3", Trigger: faas.TriggerAzureQueue,
			Body: []byte(`{"to":"group","id":"lobby","text":"order \"42\" shipped"}`), Attempt: 2}},
		{"azure-servicebus-v5.json", faas.Message{ID: "sb-1", Trigger: faas.TriggerServiceBus, Group: "orders-42", Attempt: 2,
			Body:       []byte(`{"to":"user","id":"alice","json":{"build":"green"}}`),
			Attributes: map[string]string{"room": "builds", "priority": "5"}}},
		{"azure-servicebus-v4.json", faas.Message{ID: "sb-2", Trigger: faas.TriggerServiceBus, Attempt: 1,
			Body: []byte(`price changed`), Attributes: map[string]string{"room": "stocks"}}},
		{"azure-eventgrid.json", faas.Message{ID: "eg-1", Trigger: faas.TriggerEventGrid,
			Body: []byte(`{"to":"group","id":"orders","json":{"order":42}}`),
			Attributes: map[string]string{"subject": "orders/42", "eventType": "Orders.Shipped",
				"topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/orders"}}},
		{"azure-eventgrid-string.json", faas.Message{ID: "eg-2", Trigger: faas.TriggerEventGrid,
			Body: []byte(`{"to":"all","text":"hi"}`), Attributes: map[string]string{"subject": "s", "eventType": "T", "topic": "/t"}}},
		{"azure-eventgrid-cloudevent.json", faas.Message{ID: "ce-1", Trigger: faas.TriggerEventGrid,
			Body: []byte(`{"to":"all","text":"shipped"}`), Attributes: map[string]string{"subject": "orders/43", "type": "Orders.Shipped", "source": "/orders"}}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			m, err := faas.ParseAzureMessage(fixture(t, c.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if !sameMessage(m, c.want) {
				t.Fatalf("got  %+v (%s)\nwant %+v (%s)", m, m.Body, c.want, c.want.Body)
			}
		})
	}
}

func TestAzureMessageAnswers(t *testing.T) {
	queue := string(fixture(t, "azure-queue-object.json"))
	cases := []struct {
		name, path, body string
		status           int
		log              string
	}{
		{"done", "/relay-queue", queue, 200, "message 6f1a1b7e-2c4d-4e5f-8a9b-0c1d2e3f4a5b done"},
		{"permanent is done", "/relay-queue", strings.Replace(queue, "order shipped", "permanent", 1), 200, "dropped: bad envelope"},
		{"transient is retried", "/relay-servicebus", strings.Replace(queue, "order shipped", "transient", 1), 500, "failed, to be retried: service busy"},
		{"the bare name", "/relay", queue, 200, "done"},
		{"another function", "/relayx", queue, 404, "no function relayx here"},
		{"not a trigger payload", "/relay-eventgrid", `{"Data":{"event":{"x":1}},"Metadata":{}}`, 400, "Event Grid event without id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			h := faas.NewAzureHandler(r.fn())
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body)))
			var resp azurefn.Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != c.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, c.status)
			}
			if len(resp.Logs) != 1 || !strings.Contains(resp.Logs[0], c.log) || resp.Outputs == nil {
				t.Fatalf("answer %s, want a log with %q", w.Body, c.log)
			}
		})
	}
}

func TestLocalMessageEndpoint(t *testing.T) {
	cases := []struct {
		name, body, id string
		status         int
		answer         string
	}{
		{"bare message", `{"to":"all","text":"x"}`, "local-1", 202, `{"id":"local-1","status":"done"}`},
		{"bare permanent", `permanent`, "", 422, `{"error":"bad envelope","id":"","status":"dropped"}`},
		{"bare transient", `transient`, "t", 503, `{"error":"service busy","id":"t","status":"retry"}`},
		{"SQS batch", `{"Records":[{"messageId":"a","eventSource":"aws:sqs","body":"transient"},{"messageId":"b","eventSource":"aws:sqs","body":"x"}]}`, "", 200,
			`{"batchItemFailures":[{"itemIdentifier":"a"}]}`},
		{"EventBridge", string(fixture(t, "eventbridge.json")), "", 200, `{"status":"done"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			h := faas.Handler(r.fn(), faas.HostLocal)
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			if c.id != "" {
				req.Header.Set(faas.HeaderMessageID, c.id)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.status || strings.TrimSpace(w.Body.String()) != c.answer {
				t.Fatalf("%d %s, want %d %s", w.Code, w.Body, c.status, c.answer)
			}
		})
	}
	w := httptest.NewRecorder()
	faas.Handler((&recorder{}).fn(), faas.HostLocal).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d", w.Code)
	}
}

func TestMessageFunctionStandsAlone(t *testing.T) {
	fn := (&recorder{}).fn()
	fn.HTTP = http.NotFoundHandler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := faas.Serve(context.Background(), ln, fn); !errors.Is(err, faas.ErrInvalidFunction) {
		t.Fatalf("err %v", err)
	}
}

// FuzzParseAzureMessage: any payload is a Message or a *PayloadError.
func FuzzParseAzureMessage(f *testing.F) {
	ents, _ := messages.ReadDir("testdata/messages")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "azure-") {
			f.Add(fixture(f, e.Name()))
		}
	}
	f.Add([]byte(`{"Data":{"m":"\"\\\"x\\\"\""},"Metadata":{"DequeueCount":"x","Id":5}}`))
	f.Add([]byte(`"{\"Data\":{}}"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := faas.ParseAzureMessage(raw)
		var pe *faas.PayloadError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error %T %v", err, err)
		}
		if err == nil && m.Trigger == "" {
			t.Fatal("message without a trigger")
		}
	})
}

// FuzzLambdaMessages: any event is handled, refused, or reported failed,
// never a panic; an SQS answer lists only ids of the batch.
func FuzzLambdaMessages(f *testing.F) {
	for _, n := range []string{"sqs-fifo.json", "sns.json", "eventbridge.json"} {
		f.Add(fixture(f, n))
	}
	f.Add([]byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"","body":"transient"}]}`))
	f.Add([]byte(`{"detail-type":null}`))
	fn := (&recorder{}).fn()
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, _ := faas.HandleLambdaMessages(context.Background(), fn, raw)
		if resp, ok := out.(events.SQSEventResponse); ok {
			var ev events.SQSEvent
			_ = json.Unmarshal(raw, &ev)
			if len(resp.BatchItemFailures) > len(ev.Records) {
				t.Fatalf("%d failures for %d records", len(resp.BatchItemFailures), len(ev.Records))
			}
		}
	})
}

// BenchmarkLambdaSQSBatch is the decoding and answering of an SQS batch of
// ten around a function that does nothing (the relay's own cost per batch,
// beyond its sends).
func BenchmarkLambdaSQSBatch(b *testing.B) {
	ev := sqsBatch(slices.Repeat([]string{`{"to":"group","id":"orders","json":{"order":42,"status":"shipped"}}`}, 10), nil)
	raw, _ := json.Marshal(ev)
	fn := faas.Function{Name: "relay", Messages: func(context.Context, faas.Message) error { return nil }}
	b.Run("lambda", func(b *testing.B) {
		for b.Loop() {
			if _, err := faas.HandleLambdaMessages(context.Background(), fn, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("local", func(b *testing.B) {
		h := faas.Handler(fn, faas.HostLocal)
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(raw)))
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}

// TestMessageFailureLogs: each failure is logged once with the function (wpsfn
// dev serves several in one process), the trigger, the message id and the attempt, as dropped or to be redelivered, and never
// with the message's body.
func TestMessageFailureLogs(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, nil)))
	defer slog.SetDefault(old)
	r := &recorder{}
	batch := []faas.Message{
		{ID: "m-ok", Trigger: faas.TriggerSQS, Body: []byte("fine body-secret-1"), Attempt: 1},
		{ID: "m-bad", Trigger: faas.TriggerSQS, Body: []byte("permanent body-secret-2"), Attempt: 1},
		{ID: "m-busy", Trigger: faas.TriggerSQS, Body: []byte("transient body-secret-3"), Attempt: 3},
	}
	errs := faas.HandleMessages(context.Background(), r.fn(), batch)
	if errs[0] != nil || !faas.IsPermanent(errs[1]) || errs[2] == nil || faas.IsPermanent(errs[2]) {
		t.Fatalf("outcomes %v", errs)
	}
	var lines []map[string]any
	for l := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	slices.SortFunc(lines, func(a, b map[string]any) int {
		return strings.Compare(fmt.Sprint(a["message_id"]), fmt.Sprint(b["message_id"]))
	})
	want := []struct{ id, msg, level, err string }{
		{"m-bad", "message dropped: permanent failure", "WARN", "bad envelope"},
		{"m-busy", "message failed; to be redelivered", "ERROR", "service busy"},
	}
	if len(lines) != len(want) {
		t.Fatalf("log %s, want %d lines", logs.String(), len(want))
	}
	for i, w := range want {
		l := lines[i]
		if l["message_id"] != w.id || l["msg"] != w.msg || l["level"] != w.level || l["error"] != w.err || l["trigger"] != "sqs" || l["function"] != "relay" || l["attempt"] == nil {
			t.Errorf("line %v, want %+v", l, w)
		}
	}
	if strings.Contains(logs.String(), "body-secret") {
		t.Errorf("a message body is in the log: %s", logs.String())
	}
}

// TestSQSRecordsDoNotCarryOver: each event's records are its own, also
// where an earlier event's decoded records are reused (a record without
// attributes has none, whatever the record before it in that place had).
func TestSQSRecordsDoNotCarryOver(t *testing.T) {
	full := `{"Records":[{"eventSource":"aws:sqs","messageId":"a1","body":"one","attributes":{"MessageGroupId":"g","ApproximateReceiveCount":"3"},
		"messageAttributes":{"k":{"stringValue":"v","dataType":"String"}}},
		{"eventSource":"aws:sqs","messageId":"a2","body":"two","attributes":{"MessageGroupId":"g","ApproximateReceiveCount":"2"}}]}`
	bare := `{"Records":[{"eventSource":"aws:sqs","messageId":"b1","body":"three"}]}`
	h := faas.Handler((&recorder{}).fn(), faas.HostLocal)
	for range 20 { // sync.Pool may drop an array; many rounds reuse one
		for _, ev := range []string{full, bare} {
			r := &recorder{}
			out, err := faas.HandleLambdaMessages(context.Background(), r.fn(), []byte(ev))
			if err != nil || len(out.(events.SQSEventResponse).BatchItemFailures) != 0 {
				t.Fatalf("%v %v", out, err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(ev)))
			if w.Code != http.StatusOK {
				t.Fatalf("local: %d %s", w.Code, w.Body)
			}
			if ev == bare {
				want := faas.Message{ID: "b1", Trigger: faas.TriggerSQS, Body: []byte("three")}
				if len(r.got) != 1 || !reflect.DeepEqual(r.got[0], want) {
					t.Fatalf("bare record after a full one: %+v, want %+v", r.got, want)
				}
			} else if len(r.got) != 2 || r.got[0].Group != "g" || r.got[0].Attempt != 3 || r.got[0].Attributes["k"] != "v" || r.got[1].Attributes != nil {
				t.Fatalf("full records: %+v", r.got)
			}
		}
	}
}

// TestLocalMessagesBodyBound: the local endpoint refuses a body over its
// bound with 413 whether the request declares its length, declares less
// than it sends, or declares none (chunked), and takes one at the bound.
func TestLocalMessagesBodyBound(t *testing.T) {
	h := faas.Handler((&recorder{}).fn(), faas.HostLocal)
	const bound = 12 << 20
	over := bytes.Repeat([]byte("x"), bound+1)
	for _, c := range []struct {
		name     string
		body     io.Reader
		declared int64
	}{
		{"declared", bytes.NewReader(over), bound + 1},
		{"declared less than sent", bytes.NewReader(over), 100},
		{"chunked", io.MultiReader(bytes.NewReader(over)), -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", c.body)
			r.ContentLength = c.declared
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, "status", w.Code, http.StatusRequestEntityTooLarge)
			assert.Equal(t, "answer", strings.TrimSpace(w.Body.String()), fmt.Sprintf(`{"error":"body larger than %d bytes"}`, bound))
		})
	}
	// At the bound: read whole (then refused as an envelope, not for its size).
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(over[:bound])))
	assert.True(t, "a body at the bound is read", w.Code != http.StatusRequestEntityTooLarge)
}
