package hosts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/internal/nodetest"
)

// The Storage emulator's well-known development account (public, in every
// Azurite and Azure SDK document); not a secret.
const (
	devAccount = "devstoreaccount1"
	devKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azurite runs Azurite's queue service from test/node_modules on a loopback
// port, persisting to a temporary folder, telemetry off, and returns the account's base URL.
func azurite(t *testing.T) string {
	t.Helper()
	nodetest.Require(t)
	main := filepath.Join(nodetest.Dir(), "node_modules", "azurite", "dist", "src", "queue", "main.js")
	if _, err := os.Stat(main); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("azurite is required under CI (run `make test-deps`): %v", err)
		}
		t.Skipf("azurite not installed: %v", err)
	}
	node, _ := nodetest.Node()
	port := faastest.FreePort(t)
	faastest.Start(t, nil, node, main, "--queueHost", "127.0.0.1", "--queuePort", port,
		"--disableTelemetry", "--location", t.TempDir(), "--skipApiVersionCheck", "--silent")
	base := "http://127.0.0.1:" + port + "/" + devAccount
	// Loading Azurite's modules takes many seconds on a busy machine.
	if err := faastest.WaitHTTP(t.Context(), base+"?comp=list", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	return base
}

// queueClient speaks the Storage queue REST API with SharedKey signatures.
type queueClient struct {
	t    *testing.T
	base string // http://host:port/devstoreaccount1
}

// do signs and sends one request; it fails t unless the status is want.
func (q *queueClient) do(method, path string, query url.Values, body []byte, want int) []byte {
	q.t.Helper()
	u := q.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(q.t.Context(), method, u, bytes.NewReader(body))
	if err != nil {
		q.t.Fatal(err)
	}
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("x-ms-version", "2021-12-02")
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/xml")
	}
	req.Header.Set("Authorization", "SharedKey "+devAccount+":"+sharedKey(req, len(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		q.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		q.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

// sharedKey is the Shared Key signature of req (Storage services, version
// 2009-09-19 and later).
func sharedKey(req *http.Request, n int) string {
	length := ""
	if n > 0 {
		length = strconv.Itoa(n)
	}
	var hs []string
	for k := range req.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			hs = append(hs, lk+":"+strings.TrimSpace(req.Header.Get(k)))
		}
	}
	sort.Strings(hs)
	resource := "/" + devAccount + req.URL.EscapedPath()
	q := req.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := slices.Clone(q[k])
		sort.Strings(vs)
		resource += "\n" + strings.ToLower(k) + ":" + strings.Join(vs, ",")
	}
	s := strings.Join([]string{req.Method, "", "", length, "", req.Header.Get("Content-Type"), "", "", "", "", "", ""}, "\n") +
		"\n" + strings.Join(hs, "\n") + "\n" + resource
	key, _ := base64.StdEncoding.DecodeString(devKey)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type queueMessage struct {
	MessageID       string `xml:"MessageId"`
	InsertionTime   string `xml:"InsertionTime"`
	ExpirationTime  string `xml:"ExpirationTime"`
	PopReceipt      string `xml:"PopReceipt"`
	TimeNextVisible string `xml:"TimeNextVisible"`
	DequeueCount    int    `xml:"DequeueCount"`
	MessageText     string `xml:"MessageText"`
}

func (q *queueClient) create(queue string) { q.do("PUT", "/"+queue, nil, nil, http.StatusCreated) }

func (q *queueClient) put(queue, text string) {
	var b bytes.Buffer
	b.WriteString("<QueueMessage><MessageText>")
	xml.EscapeText(&b, []byte(text))
	b.WriteString("</MessageText></QueueMessage>")
	q.do("POST", "/"+queue+"/messages", nil, b.Bytes(), http.StatusCreated)
}

// get dequeues up to one message, invisible for visibility.
func (q *queueClient) get(queue string, visibility time.Duration) (queueMessage, bool) {
	b := q.do("GET", "/"+queue+"/messages", url.Values{"numofmessages": {"1"}, "visibilitytimeout": {strconv.Itoa(int(visibility / time.Second))}}, nil, http.StatusOK)
	var list struct {
		Messages []queueMessage `xml:"QueueMessage"`
	}
	if err := xml.Unmarshal(b, &list); err != nil {
		q.t.Fatalf("get messages: %v: %s", err, b)
	}
	if len(list.Messages) == 0 {
		return queueMessage{}, false
	}
	return list.Messages[0], true
}

func (q *queueClient) delete(queue string, m queueMessage) {
	q.do("DELETE", "/"+queue+"/messages/"+m.MessageID, url.Values{"popreceipt": {m.PopReceipt}}, nil, http.StatusNoContent)
}

// peek lists the texts of the visible messages.
func (q *queueClient) peek(queue string) []string {
	b := q.do("GET", "/"+queue+"/messages", url.Values{"peekonly": {"true"}, "numofmessages": {"32"}}, nil, http.StatusOK)
	var list struct {
		Messages []queueMessage `xml:"QueueMessage"`
	}
	if err := xml.Unmarshal(b, &list); err != nil {
		q.t.Fatalf("peek: %v", err)
	}
	var out []string
	for _, m := range list.Messages {
		out = append(out, m.MessageText)
	}
	return out
}

// functionsHost plays the Functions host's queue trigger for one function:
// dequeue, POST the invocation payload the host builds (its string encoding
// included), delete the message on a 2xx, leave it for redelivery
// otherwise, and after maxDequeueCount failed attempts move it to
// <queue>-poison.
type functionsHost struct {
	q               *queueClient
	handler         string // http://127.0.0.1:<port>
	function, queue string
	maxDequeueCount int
	attempts        []int            // the status of each invocation
	dequeues        map[string][]int // each message text's dequeue count at each invocation
}

// payload is the invocation payload for m as the host builds it
// (GetHttpScriptInvocationContextValue): the message text is a string, not
// an object the host can turn into a JObject, so it goes as a JSON string
// holding the JSON of the string, an envelope included
// ("\"{\\\"to\\\":...}\""); metadata values in the same encoding.
// (pkg/faas also reads a JSON message passed as an object: see its
// azure-queue-object.json fixture.)
func (h *functionsHost) payload(m queueMessage) []byte {
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	data := json.RawMessage(quoted(quoted(m.MessageText)))
	inv := map[string]any{
		"Data": map[string]any{"msg": data},
		"Metadata": map[string]any{
			"DequeueCount":    strconv.Itoa(m.DequeueCount),
			"ExpirationTime":  m.ExpirationTime,
			"Id":              quoted(m.MessageID),
			"InsertionTime":   m.InsertionTime,
			"NextVisibleTime": m.TimeNextVisible,
			"PopReceipt":      quoted(m.PopReceipt),
			"sys":             map[string]string{"MethodName": h.function, "UtcNow": time.Now().UTC().Format(time.RFC3339Nano), "RandGuid": "6b1f4f1e-8f6a-4c55-9b0c-3b0e1d2f3a4b"},
		},
	}
	b, _ := json.Marshal(inv)
	return b
}

// pump handles messages until the queue stays empty for idle.
func (h *functionsHost) pump(t *testing.T, idle time.Duration) {
	t.Helper()
	quiet := time.Now()
	for time.Since(quiet) < idle {
		m, ok := h.q.get(h.queue, time.Second)
		if !ok {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		quiet = time.Now()
		if h.dequeues == nil {
			h.dequeues = map[string][]int{}
		}
		h.dequeues[m.MessageText] = append(h.dequeues[m.MessageText], m.DequeueCount)
		resp, err := http.Post(h.handler+"/"+h.function, "application/json", bytes.NewReader(h.payload(m)))
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Outputs map[string]any
			Logs    []string
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &ans); err != nil || ans.Outputs == nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("answer %d %s is not an invocation response", resp.StatusCode, b)
		}
		h.attempts = append(h.attempts, resp.StatusCode)
		switch {
		case resp.StatusCode/100 == 2:
			h.q.delete(h.queue, m)
		case m.DequeueCount >= h.maxDequeueCount:
			h.q.put(h.queue+"-poison", m.MessageText)
			h.q.delete(h.queue, m)
		}
		// Otherwise the message reappears when its visibility ends.
	}
}

// TestRelayAzureStorageQueue: cmd/relay as a custom handler behind a
// Storage queue in Azurite. A good envelope is sent and deleted, a bad one
// deleted unsent, a transient failure retried with the dequeue count rising
// until the host moves it to relay-poison.
func TestRelayAzureStorageQueue(t *testing.T) {
	t.Parallel()
	base := azurite(t)
	s := newRelayService(t)
	port := faastest.FreePort(t)
	faastest.Start(t, append(relayEnv(s), "FUNCTIONS_CUSTOMHANDLER_PORT="+port), faastest.MustBuild(t, "./cmd/relay"))
	handler := "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(context.Background(), handler+"/", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	q := &queueClient{t: t, base: base}
	q.create("relay")
	q.create("relay-poison")
	q.put("relay", `{"to":"group","id":"lobby","text":"order shipped"}`)
	q.put("relay", `{"to":"group","text":"no id"}`)
	q.put("relay", `{"to":"group","id":"busy","json":{"n":1}}`)
	h := &functionsHost{q: q, handler: handler, function: "relay-queue", queue: "relay", maxDequeueCount: 5}
	h.pump(t, 3*time.Second)

	if n := slices.Index(h.attempts, 500); n < 0 || len(h.attempts) != 2+5 {
		t.Fatalf("invocations answered %v, want two 200s and five 500s", h.attempts)
	}
	if got := h.dequeues[`{"to":"group","id":"busy","json":{"n":1}}`]; !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("transient failure dequeued with counts %v, want 1..5", got)
	}
	if left := q.peek("relay"); len(left) != 0 {
		t.Fatalf("left in the queue: %q", left)
	}
	if poison := q.peek("relay-poison"); !slices.Equal(poison, []string{`{"to":"group","id":"busy","json":{"n":1}}`}) {
		t.Fatalf("poison queue %q, want the transient failure", poison)
	}
	var sent []string
	for _, r := range s.Requests() {
		sent = append(sent, r.Path+" "+string(r.Body))
	}
	want := []string{"/api/hubs/chat/groups/lobby/:send order shipped"}
	for range 5 {
		want = append(want, `/api/hubs/chat/groups/busy/:send {"n":1}`)
	}
	slices.Sort(sent)
	slices.Sort(want)
	if !slices.Equal(sent, want) {
		t.Fatalf("sent %q\nwant %q", sent, want)
	}
}
