package fnconf

var (
	AWSAssertion = awsAssertion
	GCPAssertion = gcpAssertion
)
