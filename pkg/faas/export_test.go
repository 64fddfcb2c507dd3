package faas

// Test access for the external tests.
var (
	// NewAzureHandler is the custom handler Run serves on Azure.
	NewAzureHandler = newAzureHandler
	// HandleLambdaMessages is what Run's Lambda handler serves a message
	// function's event with (and the local endpoint an SQS, SNS or
	// EventBridge body with).
	HandleLambdaMessages = handleLambdaMessages
	// HandleSQS is its SQS branch.
	HandleSQS = handleSQS
)

// ParseAzureMessage reads an Azure message trigger's invocation payload as
// the custom handler does.
func ParseAzureMessage(raw []byte) (Message, error) {
	inv, err := decodeAzure(raw)
	if err != nil {
		return Message{}, err
	}
	return azureMessage(inv)
}
