package faas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

// lambdaProbe is the least of an event that tells the message shapes apart;
// encoding/json matches names case-insensitively, so eventSource reads SQS's
// "eventSource" and SNS's "EventSource" alike.
type lambdaProbe struct {
	Records []struct {
		EventSource string `json:"eventSource"`
	} `json:"Records"`
	DetailType *string `json:"detail-type"`
}

// lambdaMessageShape names the event shape raw has: "sqs", "sns",
// "eventbridge", or "" for anything else.
func lambdaMessageShape(raw []byte) Trigger {
	var p lambdaProbe
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	switch {
	case len(p.Records) > 0 && p.Records[0].EventSource == "aws:sqs":
		return TriggerSQS
	case len(p.Records) > 0 && p.Records[0].EventSource == "aws:sns":
		return TriggerSNS
	case p.DetailType != nil && len(p.Records) == 0:
		return TriggerEventBridge
	}
	return ""
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
	switch lambdaMessageShape(raw) {
	case TriggerSQS:
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, &PayloadError{Host: HostLambda, Reason: "SQS event does not decode", Err: err}
		}
		return handleSQS(ctx, fn, ev), nil
	case TriggerSNS:
		var ev events.SNSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, &PayloadError{Host: HostLambda, Reason: "SNS event does not decode", Err: err}
		}
		msgs := make([]Message, len(ev.Records))
		for i, r := range ev.Records {
			msgs[i] = snsMessage(r)
		}
		return nil, firstRetry(HandleMessages(ctx, fn, msgs))
	case TriggerEventBridge:
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, &PayloadError{Host: HostLambda, Reason: "EventBridge event does not decode", Err: err}
		}
		return nil, firstRetry(HandleMessages(ctx, fn, []Message{eventBridgeMessage(ev)}))
	}
	err := &PayloadError{Host: HostLambda, Reason: "not an SQS, SNS or EventBridge event"}
	slog.WarnContext(ctx, "lambda: rejected event", "error", err.Error())
	return nil, err
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

// handleSQS runs fn.Messages on every record and lists the ones to
// redeliver by messageId. A FIFO record's group is its MessageGroupId.
func handleSQS(ctx context.Context, fn Function, ev events.SQSEvent) events.SQSEventResponse {
	msgs := make([]Message, len(ev.Records))
	for i, r := range ev.Records {
		msgs[i] = sqsMessage(r)
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, err := range HandleMessages(ctx, fn, msgs) {
		if err != nil && !IsPermanent(err) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
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

// snsMessage is r as a Message: the SNS Message is the body, its String
// message attributes (and Subject, as "subject") become Attributes.
func snsMessage(r events.SNSEventRecord) Message {
	m := Message{ID: r.SNS.MessageID, Trigger: TriggerSNS, Body: []byte(r.SNS.Message), Attributes: map[string]string{}}
	if r.SNS.Subject != "" {
		m.Attributes["subject"] = r.SNS.Subject
	}
	for k, v := range r.SNS.MessageAttributes {
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
