package faas

import (
	"context"
	"encoding/json"
	"log/slog"
)

// CloudEvent is the part of a CloudEvent (as functions-framework-go hands
// it to a Google Cloud function: a Pub/Sub message through Eventarc, or any
// other Eventarc event) that a message function needs. The root package
// fills it from the SDK's event.Event, so this package needs no CloudEvents
// dependency.
type CloudEvent struct {
	ID, Source, Type, Subject string
	Data                      []byte
}

// PubSubPublished is the CloudEvent type of a Pub/Sub message.
const PubSubPublished = "google.cloud.pubsub.topic.v1.messagePublished"

// pubsubData is a Pub/Sub CloudEvent's data. Push bodies have been seen
// with snake_case duplicates of the ids; both are read.
type pubsubData struct {
	Message struct {
		Data        []byte            `json:"data"`
		Attributes  map[string]string `json:"attributes"`
		MessageID   string            `json:"messageId"`
		MessageID2  string            `json:"message_id"`
		OrderingKey string            `json:"orderingKey"`
	} `json:"message"`
	DeliveryAttempt int `json:"deliveryAttempt"`
}

// ParseCloudEvent reads a CloudEvent into a Message: for a Pub/Sub message
// the body is the message data (base64-decoded), its attributes and
// ordering key carried over; any other event's data is the body, with its
// "type", "source" and "subject" as attributes.
func ParseCloudEvent(ce CloudEvent) (Message, error) {
	if ce.Type != PubSubPublished {
		m := Message{ID: ce.ID, Trigger: TriggerCloudEvent, Body: ce.Data, Attributes: map[string]string{"type": ce.Type, "source": ce.Source}}
		if ce.Subject != "" {
			m.Attributes["subject"] = ce.Subject
		}
		return m, nil
	}
	var d pubsubData
	if err := json.Unmarshal(ce.Data, &d); err != nil {
		return Message{}, &PayloadError{Host: Host("gcp"), Reason: "Pub/Sub event data does not decode", Err: err}
	}
	m := Message{ID: d.Message.MessageID, Trigger: TriggerPubSub, Body: d.Message.Data, Attributes: d.Message.Attributes,
		Group: d.Message.OrderingKey, Attempt: d.DeliveryAttempt}
	if m.ID == "" {
		m.ID = d.Message.MessageID2
	}
	if m.ID == "" {
		m.ID = ce.ID // the CloudEvent id is the message id
	}
	return m, nil
}

// HandleCloudEvent runs fn.Messages on the message ce carries and returns
// the error that makes Pub/Sub redeliver it (functions-framework-go
// answers a returned error with HTTP 500; a function deployed with --retry
// then gets the message again, one without drops it). A permanent failure
// or an event that does not decode is logged and returns nil.
func HandleCloudEvent(ctx context.Context, fn Function, ce CloudEvent) error {
	m, err := ParseCloudEvent(ce)
	if err != nil {
		slog.WarnContext(ctx, "message dropped: event does not decode", "type", ce.Type, "id", ce.ID, "error", err.Error())
		return nil
	}
	return firstRetry(HandleMessages(ctx, fn, []Message{m}))
}
