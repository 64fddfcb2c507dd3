package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/internal/httprec"
	"github.com/wpsfn/wpsfn/pkg/faas"
)

const accessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="

// service is a REST stand-in answering by the target: group "forbidden"
// gets 403, group "busy" 503, group "status-N" N, group "slow" waits for
// release, group "hang" until the caller gives up.
type service struct {
	srv     *httprec.Server
	release chan struct{}
}

func newService(t *testing.T) *service {
	s := &service{release: make(chan struct{})}
	s.srv = httprec.New(t, httprec.Options{Answer: func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case strings.Contains(r.URL.Path, "/groups/forbidden/"):
			w.WriteHeader(http.StatusForbidden)
		case strings.Contains(r.URL.Path, "/groups/busy/"):
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.Contains(r.URL.Path, "/groups/slow/"):
			<-s.release
			w.WriteHeader(http.StatusAccepted)
		case strings.Contains(r.URL.Path, "/groups/hang/"):
			<-r.Context().Done()
		case strings.Contains(r.URL.Path, "/groups/status-"):
			code, _ := strconv.Atoi(strings.TrimSuffix(strings.SplitN(r.URL.Path, "/groups/status-", 2)[1], "/:send"))
			w.WriteHeader(code)
		default:
			httprec.RESTAnswer(w, r, n)
		}
	}})
	return s
}

// sent is the recorded sends as "path body".
func (s *service) sent() []string {
	var out []string
	for _, r := range s.srv.Requests() {
		out = append(out, r.Path+" "+string(r.Body))
	}
	return out
}

func newRelay(t *testing.T, s *service, cfg relay.Config) *relay.Relay {
	t.Helper()
	cfg.ConnectionString = "Endpoint=" + s.srv.URL + ";AccessKey=" + accessKey + ";Version=1.0;"
	cfg.Hub = "chat"
	if cfg.SendRetries == 0 {
		cfg.SendRetries = -1
	}
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func msg(id, body string) faas.Message {
	return faas.Message{ID: id, Trigger: faas.TriggerSQS, Body: []byte(body)}
}

// outcome names a Handle result: done, permanent or retry.
func outcome(err error) string {
	switch {
	case err == nil:
		return "done"
	case faas.IsPermanent(err):
		return "permanent"
	}
	return "retry"
}

func TestHandleOutcomes(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		name, body, want string
		sent             []string
	}{
		{"text to group", `{"to":"group","id":"lobby","text":"hello"}`, "done",
			[]string{"/api/hubs/chat/groups/lobby/:send hello"}},
		{"json to all", `{"to":"all","json":{"a":1}}`, "done", []string{`/api/hubs/chat/:send {"a":1}`}},
		{"bad envelope", `{"to":"everyone","text":"x"}`, "permanent", nil},
		{"not JSON", `hello`, "permanent", nil},
		{"over 1 MB once encoded", `{"to":"all","text":"` + big + `"}`, "permanent", nil},
		{"4xx from the service", `{"to":"group","id":"forbidden","text":"x"}`, "permanent",
			[]string{"/api/hubs/chat/groups/forbidden/:send x"}},
		{"5xx from the service", `{"to":"group","id":"busy","text":"x"}`, "retry",
			[]string{"/api/hubs/chat/groups/busy/:send x"}},
		// 810 kB of bytes is under the 1 MB limit as sent to the REST API,
		// but JSON-subprotocol clients get it as 1.08 MB of base64.
		{"binary over 1 MB only once encoded", `{"to":"all","binary":"` + strings.Repeat("AAAA", 270_000) + `"}`, "permanent", nil},
		{"text over 1 MB only once escaped", `{"to":"all","text":"` + strings.Repeat(`\"`, 600_000) + `"}`, "permanent", nil},
	}
	for _, code := range []int{400, 401, 403, 404, 413} {
		cases = append(cases, struct {
			name, body, want string
			sent             []string
		}{fmt.Sprintf("%d from the service", code), fmt.Sprintf(`{"to":"group","id":"status-%d","text":"x"}`, code), "permanent",
			[]string{fmt.Sprintf("/api/hubs/chat/groups/status-%d/:send x", code)}})
	}
	for _, code := range []int{408, 429, 500, 502, 504} {
		cases = append(cases, struct {
			name, body, want string
			sent             []string
		}{fmt.Sprintf("%d from the service", code), fmt.Sprintf(`{"to":"group","id":"status-%d","text":"x"}`, code), "retry",
			[]string{fmt.Sprintf("/api/hubs/chat/groups/status-%d/:send x", code)}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newService(t)
			r := newRelay(t, s, relay.Config{})
			err := r.Handle(context.Background(), msg("m1", c.body))
			if got := outcome(err); got != c.want {
				t.Fatalf("outcome %s (%v), want %s", got, err, c.want)
			}
			if got := s.sent(); strings.Join(got, "\n") != strings.Join(c.sent, "\n") {
				t.Fatalf("sent %q, want %q", got, c.sent)
			}
			if err != nil && !strings.Contains(err.Error(), "m1") {
				t.Fatalf("error %q does not name the message id", err)
			}
		})
	}
}

// TestTransientWithoutAnswer: a send that times out (RELAY_SEND_TIMEOUT)
// or cannot reach the service is reported for redelivery, and its
// redelivery is sent again (the window forgets it).
func TestTransientWithoutAnswer(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		s := newService(t)
		r := newRelay(t, s, relay.Config{SendTimeout: 50 * time.Millisecond})
		for range 2 {
			err := r.Handle(context.Background(), msg("m1", `{"to":"group","id":"hang","text":"x"}`))
			if outcome(err) != "retry" || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "m1") {
				t.Fatalf("outcome %s (%v), want retry after the deadline", outcome(err), err)
			}
		}
		if got := s.sent(); len(got) != 2 || got[1] != "/api/hubs/chat/groups/hang/:send x" {
			t.Fatalf("sent %q, want the delivery and its redelivery", got)
		}
	})
	t.Run("network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now: the connection is refused
		r, err := relay.New(relay.Config{ConnectionString: "Endpoint=http://" + addr + ";AccessKey=" + accessKey + ";Version=1.0;",
			Hub: "chat", SendRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Handle(context.Background(), msg("m2", `{"to":"all","text":"x"}`))
		var op *net.OpError
		if outcome(err) != "retry" || !errors.As(err, &op) {
			t.Fatalf("outcome %s (%v), want retry with the network error", outcome(err), err)
		}
	})
}

func TestDuplicatesSuppressed(t *testing.T) {
	s := newService(t)
	r := newRelay(t, s, relay.Config{})
	ctx := context.Background()
	body := `{"to":"group","id":"lobby","text":"once"}`
	for i := range 3 {
		if err := r.Handle(ctx, msg("m1", body)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	// The same id from another trigger is another message.
	other := msg("m1", body)
	other.Trigger = faas.TriggerSNS
	if err := r.Handle(ctx, other); err != nil {
		t.Fatal(err)
	}
	// A permanent failure is remembered too: its redelivery is dropped quietly.
	if err := r.Handle(ctx, msg("bad", `{}`)); !faas.IsPermanent(err) {
		t.Fatalf("bad envelope: %v", err)
	}
	if err := r.Handle(ctx, msg("bad", `{}`)); err != nil {
		t.Fatalf("redelivered bad envelope: %v, want done (a duplicate)", err)
	}
	// A transient failure is forgotten: the redelivery is sent again.
	busy := `{"to":"group","id":"busy","text":"x"}`
	for range 2 {
		if err := r.Handle(ctx, msg("b", busy)); outcome(err) != "retry" {
			t.Fatalf("busy: %v", err)
		}
	}
	want := []string{"/api/hubs/chat/groups/lobby/:send once", "/api/hubs/chat/groups/lobby/:send once",
		"/api/hubs/chat/groups/busy/:send x", "/api/hubs/chat/groups/busy/:send x"}
	if got := s.sent(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sent %q\nwant %q", got, want)
	}
}

func TestDuplicateWhileInFlight(t *testing.T) {
	s := newService(t)
	r := newRelay(t, s, relay.Config{})
	ctx := context.Background()
	body := `{"to":"group","id":"slow","text":"x"}`
	first := make(chan error, 1)
	go func() { first <- r.Handle(ctx, msg("m", body)) }()
	s.srv.WaitN(t, 1, 5*time.Second)
	if err := r.Handle(ctx, msg("m", body)); !errors.Is(err, relay.ErrInFlight) || faas.IsPermanent(err) {
		t.Fatalf("second delivery while the first is sent: %v, want ErrInFlight (retry)", err)
	}
	close(s.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := r.Handle(ctx, msg("m", body)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.sent()); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
}

func TestDisableDedupe(t *testing.T) {
	s := newService(t)
	r := newRelay(t, s, relay.Config{DisableDedupe: true})
	for range 2 {
		if err := r.Handle(context.Background(), msg("m", `{"to":"all","text":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.sent()); n != 2 {
		t.Fatalf("%d sends, want 2", n)
	}
}

func TestIDField(t *testing.T) {
	cases := []struct{ name, body, sent string }{
		{"object", `{"to":"all","json":{"a":1}}`, `{"eventId":"m-1","a":1}`},
		{"empty object", `{"to":"all","json":{}}`, `{"eventId":"m-1"}`},
		{"has the member", `{"to":"all","json":{"eventId":"mine"}}`, `{"eventId":"mine"}`},
		{"array", `{"to":"all","json":[1]}`, `[1]`},
		{"text", `{"to":"all","text":"t"}`, `t`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newService(t)
			r := newRelay(t, s, relay.Config{IDField: "eventId"})
			if err := r.Handle(context.Background(), msg("m-1", c.body)); err != nil {
				t.Fatal(err)
			}
			if got := s.sent(); len(got) != 1 || got[0] != "/api/hubs/chat/:send "+c.sent {
				t.Fatalf("sent %q, want %s", got, c.sent)
			}
		})
	}
}

func TestMapping(t *testing.T) {
	cases := []struct {
		name  string
		m     relay.Mapping
		msg   faas.Message
		want  string // outcome
		sent  string
		ctype string
	}{
		{"EventBridge detail to a fixed group", relay.Mapping{To: "group", ID: "orders"},
			faas.Message{ID: "e1", Trigger: faas.TriggerEventBridge, Body: []byte(`{"order":7}`)},
			"done", `/api/hubs/chat/groups/orders/:send {"order":7}`, "application/json"},
		{"group from an attribute", relay.Mapping{To: "group", IDAttribute: "room"},
			faas.Message{ID: "e2", Body: []byte(`price changed`), Attributes: map[string]string{"room": "stocks"}},
			"done", `/api/hubs/chat/groups/stocks/:send price changed`, "text/plain"},
		{"missing attribute", relay.Mapping{To: "group", IDAttribute: "room"},
			faas.Message{ID: "e3", Body: []byte(`x`)}, "permanent", "", ""},
		{"user and data from pointers", relay.Mapping{To: "user", IDPointer: "/for/user", DataPointer: "/payload"},
			faas.Message{ID: "e4", Body: []byte(`{"for":{"user":"o'brien"},"payload":{"n":[1,2]}}`)},
			"done", `/api/hubs/chat/users/o'brien/:send {"n":[1,2]}`, "application/json"},
		{"pointer to a number", relay.Mapping{To: "user", IDPointer: "/n"},
			faas.Message{ID: "e5", Body: []byte(`{"n":1}`)}, "permanent", "", ""},
		{"data pointer selects nothing", relay.Mapping{To: "all", DataPointer: "/nope"},
			faas.Message{ID: "e6", Body: []byte(`{"n":1}`)}, "permanent", "", ""},
		{"binary body", relay.Mapping{To: "all"},
			faas.Message{ID: "e7", Body: []byte{0xff, 0x00}}, "done", "/api/hubs/chat/:send \xff\x00", "application/octet-stream"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newService(t)
			r := newRelay(t, s, relay.Config{Map: c.m})
			if got := outcome(r.Handle(context.Background(), c.msg)); got != c.want {
				t.Fatalf("outcome %s, want %s", got, c.want)
			}
			reqs := s.srv.Requests()
			if c.sent == "" {
				if len(reqs) != 0 {
					t.Fatalf("sent %q", s.sent())
				}
				return
			}
			if got := s.sent(); len(got) != 1 || got[0] != c.sent || reqs[0].Header.Get("Content-Type") != c.ctype {
				t.Fatalf("sent %q (%s), want %q (%s)", got, reqs[0].Header.Get("Content-Type"), c.sent, c.ctype)
			}
		})
	}
}

// TestFunctionUnderLocalHost: the relay as pkg/faas serves it locally, with
// an SQS batch holding a duplicate.
func TestFunctionUnderLocalHost(t *testing.T) {
	s := newService(t)
	r := newRelay(t, s, relay.Config{})
	h := faas.Handler(r.Function(), faas.HostLocal)
	ev := `{"Records":[
		{"messageId":"a","eventSource":"aws:sqs","body":"{\"to\":\"all\",\"text\":\"1\"}"},
		{"messageId":"a","eventSource":"aws:sqs","body":"{\"to\":\"all\",\"text\":\"1\"}"},
		{"messageId":"b","eventSource":"aws:sqs","body":"{\"to\":\"group\",\"id\":\"busy\",\"text\":\"2\"}"}]}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(ev)))
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// The duplicate "a" is either sent once and dropped, or met in flight and retried.
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if j := strings.Join(failed, ","); j != "b" && j != "a,b" && j != "b,a" {
		t.Fatalf("failures %q", failed)
	}
	n := 0
	for _, x := range s.sent() {
		if x == "/api/hubs/chat/:send 1" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("message a sent %d times: %q", n, s.sent())
	}
}

// TestErrorNamesTheMessage: a refusal names the message by its id, and
// reads as one line without a dangling "message :" when there is none (an
// envelope POSTed to the local endpoint without X-Message-Id).
func TestErrorNamesTheMessage(t *testing.T) {
	r := newRelay(t, newService(t), relay.Config{})
	for _, tc := range []struct{ id, want string }{
		{"m-1", `relay: message m-1: body is not a valid message envelope: unknown field "bogus"`},
		{"", `relay: body is not a valid message envelope: unknown field "bogus"`},
	} {
		err := r.Handle(context.Background(), msg(tc.id, `{"to":"all","text":"x","bogus":1}`))
		if err == nil || err.Error() != tc.want {
			t.Errorf("id %q: %v, want %s", tc.id, err, tc.want)
		}
	}
}
