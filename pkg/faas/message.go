package faas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Message is one message from a queue, topic or event bus, whichever
// platform delivered it: the host adapters (Run's Lambda handler for SQS,
// SNS and EventBridge events, the Azure custom handler's queue, Service Bus
// and Event Grid triggers, gcpfn.Message) turn each platform's trigger
// payload into this shape.
type Message struct {
	// ID is the platform's message id (SQS messageId, SNS MessageId,
	// EventBridge id, Azure queue Id, Service Bus MessageId, Event Grid id,
	// Pub/Sub messageId): the key to suppress redeliveries by.
	ID string
	// Trigger names the kind of trigger that delivered it.
	Trigger Trigger
	// Body is the message as the producer wrote it: the SQS body, the SNS
	// Message, the EventBridge detail, the Azure queue or Service Bus body,
	// the Event Grid data, the Pub/Sub data.
	Body []byte
	// Attributes are the message's string attributes (SQS message
	// attributes, SNS message attributes, Service Bus application
	// properties, Pub/Sub attributes) and, for event buses, the event's
	// envelope fields (EventBridge "source" and "detail-type"; Event Grid
	// "subject", "eventType", "topic"; CloudEvents "type", "source", "subject").
	Attributes map[string]string
	// Group is the ordering scope (SQS FIFO MessageGroupId, Service Bus
	// SessionId, Pub/Sub orderingKey); messages of one group in a batch are
	// handled in order and the first failure stops the group. Empty means
	// unordered.
	Group string
	// Attempt is the delivery count the platform reports (1 is the first
	// delivery), or 0 when it reports none.
	Attempt int
}

// Trigger is the kind of message trigger.
type Trigger string

// The message triggers the host adapters read.
const (
	TriggerSQS         Trigger = "sqs"
	TriggerSNS         Trigger = "sns"
	TriggerEventBridge Trigger = "eventbridge"
	TriggerAzureQueue  Trigger = "azure-queue"
	TriggerServiceBus  Trigger = "azure-servicebus"
	TriggerEventGrid   Trigger = "azure-eventgrid"
	TriggerPubSub      Trigger = "pubsub"
	TriggerCloudEvent  Trigger = "cloudevent"
	TriggerLocal       Trigger = "local"
)

// PermanentError marks a message that can never be handled (a malformed
// message, one the service refuses): hosts report it done instead of
// having the platform redeliver it. Every other error from
// Function.Messages is taken as transient, and the message is redelivered.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is, or wraps, a PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// ErrGroupStopped is the outcome of the messages after a failure in the
// same ordering group: they are redelivered with it, in order.
var ErrGroupStopped = errors.New("faas: an earlier message of the same ordering group failed")

// maxBatchConcurrency bounds how many messages of one batch are handled at
// once (different groups and unordered messages run side by side).
const maxBatchConcurrency = 10

// HandleMessages runs fn.Messages on every message of a batch and returns
// each one's outcome (nil: done; a PermanentError: done, logged; anything
// else: to redeliver). Messages of one Group run in batch order, and after
// a failure that is not permanent the rest of the group is not run and gets
// ErrGroupStopped; unordered messages and different groups run side by
// side. A panic becomes that message's error.
func HandleMessages(ctx context.Context, fn Function, batch []Message) []error {
	out := make([]error, len(batch))
	if fn.Messages == nil {
		for i := range out {
			out[i] = fmt.Errorf("%w: %s has no Messages trigger", ErrInvalidFunction, fn.Name)
		}
		return out
	}
	// Lanes: one per group (in batch order), one per unordered message (a
	// lane of one, cut from idx: a standard queue's batch allocates no more).
	idx := make([]int, len(batch))
	lanes := make([][]int, 0, len(batch))
	var byGroup map[string]int
	for i, m := range batch {
		idx[i] = i
		if m.Group == "" {
			lanes = append(lanes, idx[i:i+1:i+1])
			continue
		}
		if byGroup == nil {
			byGroup = map[string]int{}
		}
		l, ok := byGroup[m.Group]
		if !ok {
			l = len(lanes)
			byGroup[m.Group] = l
			lanes = append(lanes, nil)
		}
		lanes[l] = append(lanes[l], i)
	}
	run := func(lane []int) {
		for k, i := range lane {
			out[i] = handleOne(ctx, fn, batch[i])
			if out[i] != nil && !IsPermanent(out[i]) {
				for _, j := range lane[k+1:] {
					out[j] = ErrGroupStopped
				}
				return
			}
		}
	}
	if len(lanes) == 1 {
		run(lanes[0])
		return out
	}
	sem := make(chan struct{}, maxBatchConcurrency)
	var wg sync.WaitGroup
	for _, lane := range lanes {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			run(lane)
		}()
	}
	wg.Wait()
	return out
}

// handleOne runs fn.Messages on m, turning a panic into an error and
// logging a failure with the message id (never its body).
func handleOne(ctx context.Context, fn Function, m Message) (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v", fn.Name, p)
		}
		switch {
		case err == nil:
		case IsPermanent(err):
			slog.WarnContext(ctx, "message dropped: permanent failure", "function", fn.Name, "trigger", string(m.Trigger), "message_id", m.ID,
				"attempt", m.Attempt, "error", err.Error(), "duration", time.Since(start))
		default:
			slog.ErrorContext(ctx, "message failed; to be redelivered", "function", fn.Name, "trigger", string(m.Trigger), "message_id", m.ID,
				"attempt", m.Attempt, "error", err.Error(), "duration", time.Since(start))
		}
	}()
	return fn.Messages(ctx, m)
}
