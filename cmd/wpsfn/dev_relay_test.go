package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDevRelay: an event queued for the relay (a bare envelope, then an
// SQS-shaped batch holding a redelivery of it) reaches a chat client once.
func TestDevRelay(t *testing.T) {
	st := startDev(t, 0)
	alice := dial(t, st, "alice")
	alice.expect("connected", func(m map[string]any) bool { return m["event"] == "connected" })

	post := func(body, id string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, st.Functions["relay"]+"/", strings.NewReader(body))
		if id != "" {
			req.Header.Set("X-Message-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, b := post(`{"to":"all","json":{"order":42,"status":"shipped"}}`, "ev-1"); code != 202 || b != `{"id":"ev-1","status":"done"}` {
		t.Fatalf("envelope: %d %s", code, b)
	}
	m := alice.expect("the queued event", func(m map[string]any) bool { return data(m)["order"] == float64(42) })
	if m["dataType"] != "json" || m["from"] != "server" {
		t.Errorf("got %v", m)
	}
	if code, b := post(`{"to":"nobody"}`, "ev-bad"); code != 422 || !strings.Contains(b, `"status":"dropped"`) {
		t.Fatalf("bad envelope: %d %s", code, b)
	}
	batch, _ := json.Marshal(map[string]any{"Records": []map[string]any{
		{"messageId": "m-1", "eventSource": "aws:sqs", "body": `{"to":"user","id":"alice","text":"from SQS"}`},
		{"messageId": "m-1", "eventSource": "aws:sqs", "body": `{"to":"user","id":"alice","text":"from SQS"}`},
	}})
	if code, b := post(string(batch), ""); code != 200 || !strings.HasPrefix(b, `{"batchItemFailures":[`) {
		t.Fatalf("SQS batch: %d %s", code, b)
	}
	alice.expect("the SQS message", func(m map[string]any) bool { return m["data"] == "from SQS" })
	// The duplicate is not delivered a second time.
	select {
	case m := <-alice.msgs:
		if m["data"] == "from SQS" {
			t.Fatalf("duplicate delivered: %v", m)
		}
	case <-time.After(300 * time.Millisecond):
	}
}
