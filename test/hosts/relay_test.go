package hosts

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/internal/httprec"
)

//go:embed testdata
var testdata embed.FS

// relayService is the REST stand-in for the relay: a send to group "busy"
// answers 503 while busy is set, to group "hang" answers nothing (until the
// caller gives up) while hang is set, to group "forbidden" 403, anything
// else as the service does.
type relayService struct {
	*httprec.Server
	busy, hang atomic.Bool
}

func newRelayService(t *testing.T) *relayService {
	s := &relayService{}
	s.busy.Store(true)
	s.hang.Store(true)
	s.Server = httprec.New(t, httprec.Options{Answer: func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.Contains(r.URL.Path, "/groups/busy/") && s.busy.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.Contains(r.URL.Path, "/groups/hang/") && s.hang.Load():
			<-r.Context().Done()
		case strings.Contains(r.URL.Path, "/groups/forbidden/"):
			w.WriteHeader(http.StatusForbidden)
		default:
			httprec.RESTAnswer(w, r, n)
		}
	}})
	return s
}

// bodies are the sent message bodies, in the order they arrived.
func (s *relayService) bodies() []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, string(r.Body))
	}
	return out
}

func relayEnv(s *relayService) []string {
	return []string{
		"WEBPUBSUB_CONNECTION_STRING=Endpoint=" + s.URL + ";AccessKey=" + accessKey + ";Version=1.0;",
		"WEBPUBSUB_HUB=" + hub,
		"RELAY_SEND_RETRIES=-1",
	}
}

// fifoRecord is an SQS FIFO record carrying an envelope to group to with text.
func fifoRecord(id, group, to, text string, receive int) events.SQSMessage {
	body := fmt.Sprintf(`{"to":"group","id":%q,"text":%q}`, to, text)
	if to == "" {
		body = `{"to":"group","text":"no id: a bad envelope"}`
	}
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: body, EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:relay.fifo", AWSRegion: "eu-west-1",
		Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(receive), "MessageGroupId": group,
			"MessageDeduplicationId": "d-" + id, "SentTimestamp": "1764622800000"}}
}

func invokeSQS(t *testing.T, l *faastest.LambdaEmulator, ev events.SQSEvent) []string {
	t.Helper()
	out := l.Invoke(t, ev)
	if e, ok := faastest.AsLambdaError(out); ok {
		t.Fatalf("function error %+v", e)
	}
	var resp struct {
		BatchItemFailures *[]struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.BatchItemFailures == nil {
		t.Fatalf("answer %s is not an SQSEventResponse: %v", out, err)
	}
	var ids []string
	for _, f := range *resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

// TestRelayLambdaSQS runs cmd/relay under the RIE with a FIFO batch of ten:
// one bad envelope, one refused by the service (403), one transient failure
// (503) in group A, whose later message must wait with it.
func TestRelayLambdaSQS(t *testing.T) {
	t.Parallel()
	s := newRelayService(t)
	l := faastest.StartRIE(t, faastest.MustBuild(t, "./cmd/relay"), relayEnv(s)...)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		fifoRecord("m0", "A", "a", "a1", 1),
		fifoRecord("m1", "A", "busy", "a2", 1),
		fifoRecord("m2", "A", "a", "a3", 1),
		fifoRecord("m3", "B", "", "", 1),
		fifoRecord("m4", "B", "b", "b1", 1),
		fifoRecord("m5", "C", "forbidden", "c1", 1),
		fifoRecord("m6", "C", "c", "c2", 1),
		fifoRecord("m7", "D", "d", "d1", 1),
		fifoRecord("m8", "D", "d", "d2", 1),
		fifoRecord("m9", "D", "d", "d3", 1),
	}}
	if got := invokeSQS(t, l, batch); !slices.Equal(got, []string{"m1", "m2"}) {
		t.Fatalf("batchItemFailures %v, want [m1 m2]: the transient failure and the rest of its group", got)
	}
	sent := s.bodies()
	want := []string{"a1", "a2", "b1", "c1", "c2", "d1", "d2", "d3"} // a2 refused with 503, c1 with 403
	if got := slices.Sorted(slices.Values(sent)); !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", sent, want)
	}
	before := func(a, b string) bool { return slices.Index(sent, a) < slices.Index(sent, b) }
	if !before("a1", "a2") || !before("c1", "c2") || !before("d1", "d2") || !before("d2", "d3") {
		t.Fatalf("order within a group not kept: %q", sent)
	}
	// Lambda redelivers m1 and m2 in order (and, say, m0 again); the
	// service has recovered. m0 is a duplicate: acknowledged, not sent.
	s.busy.Store(false)
	s.Reset()
	redelivery := events.SQSEvent{Records: []events.SQSMessage{
		fifoRecord("m0", "A", "a", "a1", 2), fifoRecord("m1", "A", "busy", "a2", 2), fifoRecord("m2", "A", "a", "a3", 2),
	}}
	if got := invokeSQS(t, l, redelivery); got != nil {
		t.Fatalf("batchItemFailures %v on redelivery, want none", got)
	}
	if got := s.bodies(); !slices.Equal(got, []string{"a2", "a3"}) {
		t.Fatalf("redelivery sent %q, want [a2 a3]", got)
	}
	if p := s.Requests()[0].Path; p != "/api/hubs/chat/groups/busy/:send" {
		t.Fatalf("path %s", p)
	}
}

// TestRelayLambdaSQSDeadline: a send that hangs past the function's timeout
// (AWS_LAMBDA_FUNCTION_TIMEOUT, 2 s here, with RELAY_SEND_TIMEOUT longer)
// does not time the invocation out: the relay answers before the deadline,
// listing the hanging record and the rest of its FIFO group. Lambda resets
// an execution environment whose invocation timed out, and the dedupe window
// with it; answering in time keeps it, so the redelivery sends only what was
// not sent.
func TestRelayLambdaSQSDeadline(t *testing.T) {
	t.Parallel()
	s := newRelayService(t)
	l := faastest.StartRIE(t, faastest.MustBuild(t, "./cmd/relay"),
		append(relayEnv(s), "AWS_LAMBDA_FUNCTION_TIMEOUT=2", "RELAY_SEND_TIMEOUT=30s")...)
	batch := events.SQSEvent{Records: []events.SQSMessage{
		fifoRecord("h0", "A", "a", "a1", 1), fifoRecord("h1", "A", "hang", "a2", 1), fifoRecord("h2", "A", "a", "a3", 1),
	}}
	if got := invokeSQS(t, l, batch); !slices.Equal(got, []string{"h1", "h2"}) {
		t.Fatalf("batchItemFailures %v, want [h1 h2]: the send cut off at the deadline and the rest of its group", got)
	}
	if got := s.bodies(); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("sent %q, want [a1 a2]", got)
	}
	s.hang.Store(false)
	s.Reset()
	for i := range batch.Records {
		batch.Records[i].Attributes["ApproximateReceiveCount"] = "2"
	}
	if got := invokeSQS(t, l, batch); got != nil {
		t.Fatalf("batchItemFailures %v on redelivery, want none", got)
	}
	if got := s.bodies(); !slices.Equal(got, []string{"a2", "a3"}) {
		t.Fatalf("redelivery sent %q, want [a2 a3]: a1 was sent by the same instance", got)
	}
}

// TestRelayLambdaSQSStandard runs cmd/relay under the RIE with a standard
// queue batch of ten: one bad envelope, one transient failure (503). Only
// the transient failure is listed; with no message group nothing waits for
// it, so the eight others are sent.
func TestRelayLambdaSQSStandard(t *testing.T) {
	t.Parallel()
	s := newRelayService(t)
	l := faastest.StartRIE(t, faastest.MustBuild(t, "./cmd/relay"), relayEnv(s)...)
	var batch events.SQSEvent
	for i := range 10 {
		r := fifoRecord(fmt.Sprintf("s%d", i), "", "lobby", fmt.Sprintf("n%d", i), 1)
		delete(r.Attributes, "MessageGroupId")
		delete(r.Attributes, "MessageDeduplicationId")
		r.EventSourceARN = "arn:aws:sqs:eu-west-1:123456789012:relay"
		switch i {
		case 3:
			r.Body = `{"to":"group","json":{"no":"id"}}`
		case 6:
			r.Body = `{"to":"group","id":"busy","text":"n6"}`
		}
		batch.Records = append(batch.Records, r)
	}
	if got := invokeSQS(t, l, batch); !slices.Equal(got, []string{"s6"}) {
		t.Fatalf("batchItemFailures %v, want [s6]: only the transient failure", got)
	}
	want := []string{"n0", "n1", "n2", "n4", "n5", "n6", "n7", "n8", "n9"} // n6 refused with 503
	if got := slices.Sorted(slices.Values(s.bodies())); !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

// TestRelayLambdaSNSEventBridge: the same binary takes SNS and EventBridge
// events (asynchronous invocations: a transient failure is the function's
// error, so Lambda retries the event).
func TestRelayLambdaSNSEventBridge(t *testing.T) {
	t.Parallel()
	s := newRelayService(t)
	l := faastest.StartRIE(t, faastest.MustBuild(t, "./cmd/relay"), relayEnv(s)...)
	read := func(name string) string {
		b, err := testdata.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		name, event, path, body, errorMessage string
	}{
		{"SNS", read("sns.json"), "/api/hubs/chat/groups/orders/:send", "order 42 shipped", ""},
		{"EventBridge", read("eventbridge.json"), "/api/hubs/chat/groups/orders/:send", `{"order":42}`, ""},
		{"SNS transient", strings.NewReplacer(`\"orders\"`, `\"busy\"`, "95df01b4", "aaaaaaaa").Replace(read("sns.json")),
			"/api/hubs/chat/groups/busy/:send", "order 42 shipped", "503"},
		{"EventBridge bad envelope", strings.NewReplacer(`"to":"group"`, `"to":"nobody"`, "eb-1", "eb-2").Replace(read("eventbridge.json")), "", "", ""},
	}
	for _, c := range cases {
		s.Reset()
		out := l.Invoke(t, c.event)
		e, isErr := faastest.AsLambdaError(out)
		if c.errorMessage == "" && isErr || c.errorMessage != "" && (!isErr || !strings.Contains(e.Message, c.errorMessage)) {
			t.Errorf("%s: answer %s, want error %q", c.name, out, c.errorMessage)
		}
		got := s.Requests()
		if c.path == "" {
			if len(got) != 0 {
				t.Errorf("%s: sent %+v", c.name, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Path != c.path || string(got[0].Body) != c.body {
			t.Errorf("%s: sent %+v, want %s %s", c.name, got, c.path, c.body)
		}
	}
}

// TestRelayAzureServiceBusEventGrid runs cmd/relay as a custom handler and
// POSTs the invocation payloads the Functions host builds for a Service Bus
// trigger (a session, its body and ids in the host's string encoding) and an
// Event Grid trigger. No Service Bus or Event Grid runs offline: the payloads
// follow the documented shapes (shared/reference/triggers.md §2). A transient
// failure is answered 500, so the host abandons the message and the session
// hands it out again before the next one: order is kept by the broker.
func TestRelayAzureServiceBusEventGrid(t *testing.T) {
	t.Parallel()
	s := newRelayService(t)
	port := faastest.FreePort(t)
	faastest.Start(t, append(relayEnv(s), "FUNCTIONS_CUSTOMHANDLER_PORT="+port), faastest.MustBuild(t, "./cmd/relay"))
	handler := "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(t.Context(), handler+"/", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	serviceBus := func(id, session, envelope string, delivery int) string {
		return `{"Data":{"msg":` + quoted(quoted(envelope)) + `},"Metadata":{"MessageId":` + quoted(quoted(id)) +
			`,"SessionId":` + quoted(quoted(session)) + `,"DeliveryCount":"` + strconv.Itoa(delivery) +
			`","ContentType":"\"application/json\"","EnqueuedTime":"2026-12-01T21:00:00Z","LockToken":"\"0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7\"",` +
			`"ApplicationProperties":{"room":"builds"},"sys":{"MethodName":"relay-servicebus","UtcNow":"2026-12-01T21:00:01Z","RandGuid":"2b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"}}}`
	}
	eventGrid := func(id, envelope string) string {
		return `{"Data":{"event":{"id":"` + id + `","topic":"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/orders",` +
			`"subject":"orders/42","eventType":"Orders.Shipped","eventTime":"2026-12-01T21:00:00Z","data":` + envelope +
			`,"dataVersion":"1.0"}},"Metadata":{"sys":{"MethodName":"relay-eventgrid","UtcNow":"2026-12-01T21:00:01Z","RandGuid":"2b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"}}}`
	}
	invoke := func(function, payload string) (int, string) {
		t.Helper()
		resp, err := http.Post(handler+"/"+function, "application/json", strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			Outputs map[string]any
			Logs    []string
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || ans.Outputs == nil || len(ans.Logs) != 1 {
			t.Fatalf("%s: answer %d is not an invocation response: %v", function, resp.StatusCode, err)
		}
		return resp.StatusCode, ans.Logs[0]
	}
	steps := []struct {
		name, function, payload string
		status                  int
		log                     string
		sent                    []string // path body
	}{
		{"session message, service busy", "relay-servicebus", serviceBus("sb-1", "order-42", `{"to":"group","id":"busy","text":"packed"}`, 1),
			500, "message sb-1 failed, to be retried", []string{"/api/hubs/chat/groups/busy/:send packed"}},
		{"bad envelope", "relay-servicebus", serviceBus("sb-9", "order-43", `{"to":"group","text":"no id"}`, 1),
			200, "message sb-9 dropped", nil},
		{"the same message again, service back", "relay-servicebus", serviceBus("sb-1", "order-42", `{"to":"group","id":"busy","text":"packed"}`, 2),
			200, "message sb-1 done", []string{"/api/hubs/chat/groups/busy/:send packed"}},
		{"the next one of the session", "relay-servicebus", serviceBus("sb-2", "order-42", `{"to":"group","id":"busy","text":"shipped"}`, 1),
			200, "message sb-2 done", []string{"/api/hubs/chat/groups/busy/:send shipped"}},
		{"a redelivery of a sent one", "relay-servicebus", serviceBus("sb-2", "order-42", `{"to":"group","id":"busy","text":"shipped"}`, 2),
			200, "message sb-2 done", nil},
		{"Event Grid event", "relay-eventgrid", eventGrid("eg-1", `{"to":"group","id":"orders","json":{"order":42}}`),
			200, "message eg-1 done", []string{`/api/hubs/chat/groups/orders/:send {"order":42}`}},
		{"Event Grid event refused by the service", "relay-eventgrid", eventGrid("eg-2", `{"to":"group","id":"forbidden","text":"x"}`),
			200, "message eg-2 dropped", []string{"/api/hubs/chat/groups/forbidden/:send x"}},
	}
	for i, st := range steps {
		if i == 2 {
			s.busy.Store(false)
		}
		s.Reset()
		code, log := invoke(st.function, st.payload)
		if code != st.status || !strings.Contains(log, st.log) {
			t.Errorf("%s: answered %d %q, want %d %q", st.name, code, log, st.status, st.log)
		}
		var sent []string
		for _, r := range s.Requests() {
			sent = append(sent, r.Path+" "+string(r.Body))
		}
		if !slices.Equal(sent, st.sent) {
			t.Errorf("%s: sent %q, want %q", st.name, sent, st.sent)
		}
	}
}

// TestRelayLambdaMapping: cmd/relay in the mapping mode, configured by the
// environment alone, forwards an EventBridge event that is not an envelope:
// the group from a JSON Pointer into its detail, the message id stamped in
// for clients (RELAY_ID_FIELD); a detail without the member is permanent.
func TestRelayLambdaMapping(t *testing.T) {
	t.Parallel()
	s := newRelayService(t)
	l := faastest.StartRIE(t, faastest.MustBuild(t, "./cmd/relay"),
		append(relayEnv(s), "RELAY_MAP_TO=group", "RELAY_MAP_ID_POINTER=/shop/room", "RELAY_ID_FIELD=eventId")...)
	event := func(id, detail string) string {
		return `{"version":"0","id":"` + id + `","detail-type":"Order Shipped","source":"com.example.orders","account":"123456789012",` +
			`"time":"2026-12-01T21:00:00Z","region":"eu-west-1","resources":[],"detail":` + detail + `}`
	}
	if out := l.Invoke(t, event("eb-7", `{"order":42,"shop":{"room":"orders"}}`)); string(out) != "null" {
		t.Fatalf("answer %s, want null (done)", out)
	}
	got := s.Requests()
	if len(got) != 1 || got[0].Path != "/api/hubs/chat/groups/orders/:send" ||
		string(got[0].Body) != `{"eventId":"eb-7","order":42,"shop":{"room":"orders"}}` || got[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("sent %+v, want the detail to group orders with its id", got)
	}
	s.Reset()
	if out := l.Invoke(t, event("eb-8", `{"order":43}`)); string(out) != "null" {
		t.Fatalf("answer %s, want null (a permanent failure is done)", out)
	}
	if got := s.Requests(); len(got) != 0 {
		t.Fatalf("sent %+v for an event without the group", got)
	}
}
