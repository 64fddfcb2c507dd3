package faas

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// Test access for the external tests.
var (
	// NewAzureHandler is the custom handler Run serves on Azure.
	NewAzureHandler = newAzureHandler
	// HandleLambdaMessages is what Run's Lambda handler serves a message
	// function's event with (and the local endpoint an SQS, SNS or
	// EventBridge body with).
	HandleLambdaMessages = handleLambdaMessages
)

// HandleSQS is handleLambdaMessages's SQS branch, for an event already
// decoded (the records as the decoder would have them).
func HandleSQS(ctx context.Context, fn Function, ev events.SQSEvent) events.SQSEventResponse {
	recs := make([]lambdaRecord, len(ev.Records))
	for i, r := range ev.Records {
		recs[i].SQSMessage = r
	}
	return handleSQSRecords(ctx, fn, recs)
}

// ParseAzureMessage reads an Azure message trigger's invocation payload as
// the custom handler does.
func ParseAzureMessage(raw []byte) (Message, error) {
	inv, err := decodeAzure(raw)
	if err != nil {
		return Message{}, err
	}
	return azureMessage(inv)
}
