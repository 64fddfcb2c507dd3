package faas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

// lambdaEvent is every message event shape Lambda delivers, decoded in one
// pass (the events are up to 10 MB of JSON: decoding once to tell the shape
// and again for the fields cost a third of a batch's own time). SQS and SNS
// records share one struct, their fields do not collide; encoding/json
// matches names case-insensitively, so EventSource reads SQS's
// "eventSource" and SNS's "EventSource" alike.
type lambdaEvent struct {
	Records []lambdaRecord `json:"Records"`
	// EventBridge's fields (events.EventBridgeEvent's, the ones read).
	DetailType *string         `json:"detail-type"`
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

type lambdaRecord struct {
	events.SQSMessage
	EventSource string            `json:"eventSource"` // shadows SQSMessage's: both shapes have one
	SNS         *events.SNSEntity `json:"Sns"`         // a pointer: an SQS batch's records stay small to grow
}

// decodeLambdaEvent decodes raw and names its shape: TriggerSQS,
// TriggerSNS, TriggerEventBridge, or "" for anything else. err is set when
// raw has a message shape but a field of the wrong type.
// The event's records go back to recordsPool with ev.release once handled.
func decodeLambdaEvent(raw []byte) (ev lambdaEvent, shape Trigger, err error) {
	if p, _ := recordsPool.Get().(*[]lambdaRecord); p != nil {
		ev.Records = (*p)[:0]
	}
	err = json.Unmarshal(raw, &ev)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return ev, "", err
	}
	switch {
	case len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sqs":
		shape = TriggerSQS
	case len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sns":
		shape = TriggerSNS
	case ev.DetailType != nil && len(ev.Records) == 0:
		shape = TriggerEventBridge
	}
	return ev, shape, err
}

// recordsPool keeps decoded records' arrays: growing one record at a time
// to a batch of ten allocates and copies three times the batch. Arrays come
// back cleared (encoding/json decodes into a reused element without zeroing
// it first) and only up to maxPooledRecords.
var recordsPool sync.Pool

const maxPooledRecords = 64

// release returns ev's records to recordsPool; ev is not used after.
func (ev *lambdaEvent) release() {
	recs := ev.Records[:cap(ev.Records)]
	ev.Records = nil
	if len(recs) == 0 || len(recs) > maxPooledRecords {
		return
	}
	clear(recs)
	recordsPool.Put(&recs)
}

// handleLambdaMessages serves one Lambda invocation of a message function:
//
//   - SQS (standard or FIFO): the answer is events.SQSEventResponse listing
//     only the records to redeliver (the event source mapping needs
//     FunctionResponseTypes ReportBatchItemFailures); within a FIFO message
//     group the first failure and every later record of the group are listed.
//   - SNS and EventBridge invoke asynchronously: a failure to redeliver is
//     returned as the error, so Lambda retries the event (and then sends it
//     to the on-failure destination or dead-letter queue); permanent
//     failures are logged and the event is done.
//
// Any other event is refused with a *PayloadError.
func handleLambdaMessages(ctx context.Context, fn Function, raw json.RawMessage) (any, error) {
	ev, shape, err := decodeLambdaEvent(raw)
	defer ev.release()
	return handleLambdaEvent(ctx, fn, ev, shape, err)
}

// handleLambdaEvent is handleLambdaMessages for an event decodeLambdaEvent read.
func handleLambdaEvent(ctx context.Context, fn Function, ev lambdaEvent, shape Trigger, decodeErr error) (any, error) {
	if shape != "" && decodeErr != nil {
		name := map[Trigger]string{TriggerSQS: "SQS", TriggerSNS: "SNS", TriggerEventBridge: "EventBridge"}[shape]
		return nil, &PayloadError{Host: HostLambda, Reason: name + " event does not decode", Err: decodeErr}
	}
	ctx, cancel := beforeDeadline(ctx)
	defer cancel()
	switch shape {
	case TriggerSQS:
		return handleSQSRecords(ctx, fn, ev.Records), nil
	case TriggerSNS:
		msgs := make([]Message, len(ev.Records))
		for i, r := range ev.Records {
			msgs[i] = snsMessage(r.SNS)
		}
		return nil, firstRetry(HandleMessages(ctx, fn, msgs))
	case TriggerEventBridge:
		e := events.EventBridgeEvent{ID: ev.ID, Source: ev.Source, DetailType: *ev.DetailType, Detail: ev.Detail}
		return nil, firstRetry(HandleMessages(ctx, fn, []Message{eventBridgeMessage(e)}))
	}
	err := &PayloadError{Host: HostLambda, Reason: "not an SQS, SNS or EventBridge event"}
	slog.WarnContext(ctx, "lambda: rejected event", "error", err.Error())
	return nil, err
}

// beforeDeadline is ctx ending a little before its deadline (the
// invocation's timeout on Lambda): a tenth of the time left, from 50 ms to
// 1 s. Messages still being handled then fail as transient, and the answer
// (the SQS batch item failures, or the error) goes out in time. An
// invocation that times out instead has every message of the event
// redelivered, and Lambda resets the execution environment, losing what the
// function keeps in memory (the relay's dedupe window).
func beforeDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	margin := min(max(time.Until(dl)/10, 50*time.Millisecond), time.Second)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// firstRetry is the error that makes the platform redeliver, if any.
func firstRetry(errs []error) error {
	for _, err := range errs {
		if err != nil && !IsPermanent(err) {
			return err
		}
	}
	return nil
}

// handleSQSRecords runs fn.Messages on every record and lists the ones to
// redeliver by messageId. A FIFO record's group is its MessageGroupId.
func handleSQSRecords(ctx context.Context, fn Function, recs []lambdaRecord) events.SQSEventResponse {
	msgs := make([]Message, len(recs))
	for i, r := range recs {
		msgs[i] = sqsMessage(r.SQSMessage)
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, err := range HandleMessages(ctx, fn, msgs) {
		if err != nil && !IsPermanent(err) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: recs[i].MessageId})
		}
	}
	return resp
}

// sqsMessage is r as a Message: its string message attributes become
// Attributes.
func sqsMessage(r events.SQSMessage) Message {
	m := Message{ID: r.MessageId, Trigger: TriggerSQS, Body: []byte(r.Body), Group: r.Attributes["MessageGroupId"]}
	m.Attempt, _ = strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
	for k, a := range r.MessageAttributes {
		if a.StringValue != nil {
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes[k] = *a.StringValue
		}
	}
	return m
}

// snsMessage is a record's SNS entity as a Message (nil: a record without
// one): the SNS Message is the body, its String message attributes (and
// Subject, as "subject") become Attributes.
func snsMessage(e *events.SNSEntity) Message {
	if e == nil {
		e = &events.SNSEntity{}
	}
	m := Message{ID: e.MessageID, Trigger: TriggerSNS, Body: []byte(e.Message), Attributes: map[string]string{}}
	if e.Subject != "" {
		m.Attributes["subject"] = e.Subject
	}
	for k, v := range e.MessageAttributes {
		a, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if t, _ := a["Type"].(string); t != "String" && t != "Number" {
			continue
		}
		if s, ok := a["Value"].(string); ok {
			m.Attributes[k] = s
		}
	}
	return m
}

// eventBridgeMessage is ev as a Message: detail is the body; "source" and
// "detail-type" are attributes.
func eventBridgeMessage(ev events.EventBridgeEvent) Message {
	return Message{ID: ev.ID, Trigger: TriggerEventBridge, Body: []byte(ev.Detail),
		Attributes: map[string]string{"source": ev.Source, "detail-type": ev.DetailType}}
}

// lambdaMessagesHandler is what lambda.Start runs for a message function.
func lambdaMessagesHandler(fn Function) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		out, err := handleLambdaMessages(lambdafn.NewContext(ctx, raw), fn, raw)
		var pe *PayloadError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %w", fn.Name, err)
		}
		return out, err
	}
}
