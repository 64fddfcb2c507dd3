package gcpfn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/wpsfn/wpsfn/pkg/faas"
)

// PubSubPublished is the CloudEvent type of a Pub/Sub message.
const PubSubPublished = "google.cloud.pubsub.topic.v1.messagePublished"

// pubsubPush is the part of a Pub/Sub CloudEvent's data a message function
// reads beyond PubSubMessage. Push bodies have been seen with snake_case
// duplicates of the id; both are read.
type pubsubPush struct {
	Message struct {
		MessageID2  string `json:"message_id"`
		OrderingKey string `json:"orderingKey"`
	} `json:"message"`
	DeliveryAttempt int `json:"deliveryAttempt"`
}

// Message is the faas.Message e carries: for a Pub/Sub message the body is
// the message data (base64-decoded), with its attributes and ordering key;
// any other Eventarc event's data is the body, with its "type", "source"
// and "subject" as attributes. Its error says why a Pub/Sub event's data
// does not decode.
func Message(e *event.Event) (faas.Message, error) {
	if e.Type() != PubSubPublished {
		m := faas.Message{ID: e.ID(), Trigger: faas.TriggerCloudEvent, Body: e.Data(),
			Attributes: map[string]string{"type": e.Type(), "source": e.Source()}}
		if s := e.Subject(); s != "" {
			m.Attributes["subject"] = s
		}
		return m, nil
	}
	ps, err := DecodePubSub(e)
	if err != nil {
		return faas.Message{}, err
	}
	var push pubsubPush
	if err := json.Unmarshal(e.Data(), &push); err != nil {
		return faas.Message{}, fmt.Errorf("gcpfn: event data is not a Pub/Sub message: %w", err)
	}
	m := faas.Message{ID: ps.Message.MessageID, Trigger: faas.TriggerPubSub, Body: ps.Message.Data,
		Attributes: ps.Message.Attributes, Group: push.Message.OrderingKey, Attempt: push.DeliveryAttempt}
	for _, id := range []string{push.Message.MessageID2, e.ID()} { // the CloudEvent id is the message id
		if m.ID == "" {
			m.ID = id
		}
	}
	return m, nil
}

// RunMessage runs fn.Messages on the message e carries, with e in the
// context (see EventFromContext), and returns the error that makes Pub/Sub
// redeliver it: functions-framework-go answers a returned error with HTTP
// 500, and a function deployed with --retry then gets the message again
// (one deployed without drops it). A permanent failure, or an event whose
// data does not decode, is logged and returns nil.
func RunMessage(ctx context.Context, fn faas.Function, e event.Event) error {
	m, err := Message(&e)
	if err != nil {
		slog.WarnContext(ctx, "message dropped: event does not decode", "type", e.Type(), "id", e.ID(), "error", err.Error())
		return nil
	}
	for _, err := range faas.HandleMessages(NewContext(ctx, &e), fn, []faas.Message{m}) {
		if err != nil && !faas.IsPermanent(err) {
			return err
		}
	}
	return nil
}
