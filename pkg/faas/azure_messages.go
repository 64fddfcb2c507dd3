package faas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
)

// serveAzureMessage handles an invocation payload of a message trigger
// (queueTrigger, serviceBusTrigger, eventGridTrigger) at POST /<function>:
// 200 when the message is done (sent, a duplicate, or a permanent failure,
// logged), 500 when the host should retry it (its queue or subscription
// redelivers: after maxDequeueCount to <queue>-poison, after the max
// delivery count to the dead-letter subqueue, within Event Grid's retry
// policy to its dead-letter destination).
func serveAzureMessage(w http.ResponseWriter, r *http.Request, fn Function) {
	inv, _, ok := readInvocation(w, r)
	if !ok {
		return
	}
	m, err := azureMessage(inv)
	if err != nil {
		invocationError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	err = HandleMessages(azurefn.NewContext(r.Context(), inv), fn, []Message{m})[0]
	switch {
	case err == nil:
		writeAzure(w, http.StatusOK, azurefn.Response{Outputs: map[string]any{}, Logs: []string{fmt.Sprintf("%s: message %s done", fn.Name, m.ID)}})
	case IsPermanent(err):
		writeAzure(w, http.StatusOK, azurefn.Response{Outputs: map[string]any{}, Logs: []string{fmt.Sprintf("%s: message %s dropped: %v", fn.Name, m.ID, err)}})
	default:
		writeAzure(w, http.StatusInternalServerError, azurefn.Response{Outputs: map[string]any{}, Logs: []string{fmt.Sprintf("%s: message %s failed, to be retried: %v", fn.Name, m.ID, err)}})
	}
}

// azureMessage reads the invocation of a Storage queue, Service Bus or
// Event Grid trigger into a Message, telling them apart by their metadata
// (DequeueCount/PopReceipt; DeliveryCount/LockToken/SessionId) or, for
// Event Grid, by the event's own fields. Values may come in the host's
// string encoding: a JSON string holding the JSON of the value (so a queue
// message hello arrives as "\"hello\"", DequeueCount as "1"); both forms
// are read.
func azureMessage(inv *azurefn.Invocation) (Message, error) {
	if len(inv.Data) == 0 {
		return Message{}, &PayloadError{Host: HostAzure, Reason: "invocation payload has no Data"}
	}
	// The trigger is the one binding in Data; take the first by name when
	// a function.json adds inputs.
	names := make([]string, 0, len(inv.Data))
	for k := range inv.Data {
		names = append(names, k)
	}
	slices.Sort(names)
	value := inv.Data[names[0]]
	md := func(key string) (json.RawMessage, bool) {
		for k, v := range inv.Metadata {
			if strings.EqualFold(k, key) {
				return v, true
			}
		}
		return nil, false
	}
	has := func(keys ...string) bool {
		for _, k := range keys {
			if _, ok := md(k); ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("DequeueCount", "PopReceipt"):
		m := Message{Trigger: TriggerAzureQueue, Body: azureBody(value)}
		m.ID = metaString(md("Id"))
		m.Attempt = metaInt(md("DequeueCount"))
		return m, nil
	case has("DeliveryCount", "LockToken", "SessionId", "MessageId"):
		m := Message{Trigger: TriggerServiceBus, Body: azureBody(value)}
		m.ID = metaString(md("MessageId"))
		m.Attempt = metaInt(md("DeliveryCount"))
		m.Group = metaString(md("SessionId"))
		props, ok := md("ApplicationProperties")
		if !ok {
			props, _ = md("UserProperties")
		}
		m.Attributes = metaStrings(props)
		return m, nil
	}
	return parseEventGrid(inv, names[0])
}

// eventGridEvent is an event in the Event Grid schema or the CloudEvents
// 1.0 schema.
type eventGridEvent struct {
	ID          string          `json:"id"`
	Topic       string          `json:"topic"`
	Subject     string          `json:"subject"`
	EventType   string          `json:"eventType"`
	Data        json.RawMessage `json:"data"`
	SpecVersion string          `json:"specversion"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	DataBase64  []byte          `json:"data_base64"`
}

func parseEventGrid(inv *azurefn.Invocation, binding string) (Message, error) {
	var ev eventGridEvent
	if !inv.Binding(binding, &ev) {
		return Message{}, &PayloadError{Host: HostAzure, Reason: "not a queue, Service Bus or Event Grid trigger payload"}
	}
	if ev.ID == "" || (ev.EventType == "" && ev.Type == "") {
		return Message{}, &PayloadError{Host: HostAzure, Reason: "Event Grid event without id and eventType (or CloudEvents type)"}
	}
	m := Message{ID: ev.ID, Trigger: TriggerEventGrid, Attributes: map[string]string{}}
	for k, v := range map[string]string{"subject": ev.Subject, "eventType": ev.EventType, "topic": ev.Topic, "type": ev.Type, "source": ev.Source} {
		if v != "" {
			m.Attributes[k] = v
		}
	}
	if ev.DataBase64 != nil {
		m.Body = ev.DataBase64
	} else {
		m.Body = jsonBody(ev.Data)
	}
	return m, nil
}

// azureBody is a trigger value as the message body: an object as its JSON,
// a string (once or twice encoded) as its text.
func azureBody(v json.RawMessage) []byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '"' {
		return bytes.Clone(v)
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return bytes.Clone(v)
	}
	// The host's string encoding: the string holds the JSON of a string.
	if len(s) > 1 && s[0] == '"' {
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			return []byte(inner)
		}
	}
	return []byte(s)
}

// jsonBody is a JSON value as a body: a string as its text, anything else
// (an object) as its JSON; null or absent is empty.
func jsonBody(v json.RawMessage) []byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return []byte(s)
		}
	}
	return bytes.Clone(v)
}

// metaString reads a metadata string, once or twice JSON-encoded.
func metaString(v json.RawMessage, ok bool) string {
	if !ok {
		return ""
	}
	b := azureBody(v)
	if bytes.Equal(b, []byte("null")) {
		return ""
	}
	return string(b)
}

// metaInt reads a metadata number, bare or quoted.
func metaInt(v json.RawMessage, ok bool) int {
	n, err := strconv.Atoi(strings.TrimSpace(metaString(v, ok)))
	if err != nil {
		return 0
	}
	return n
}

// metaStrings reads an object of properties (or a JSON string holding
// one) keeping the values that are strings, numbers or booleans as text.
func metaStrings(v json.RawMessage) map[string]string {
	var props map[string]json.RawMessage
	if len(v) == 0 {
		return nil
	}
	if b := azureBody(v); json.Unmarshal(b, &props) != nil {
		return nil
	}
	out := map[string]string{}
	for k, raw := range props {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] == '{' || raw[0] == '[' || bytes.Equal(raw, []byte("null")) {
			continue
		}
		out[k] = string(azureBody(raw))
	}
	return out
}
