package faas

import (
	"fmt"
	"os"
)

// Host is a platform a function runs on. The zero value is HostLocal.
type Host uint8

// The hosts. Run detects Lambda, Azure and local; Google Cloud builds the
// module root package instead (see pkg/faas/gcpfn), which reports HostGCP.
const (
	HostLocal  Host = iota // a plain HTTP server on $PORT (also `wpsfn dev`)
	HostLambda             // AWS Lambda
	HostAzure              // an Azure Functions custom handler
	HostGCP                // Google Cloud Functions (Cloud Run functions)
)

var hostNames = [...]string{HostLocal: "local", HostLambda: "lambda", HostAzure: "azure", HostGCP: "gcp"}

// String returns the host's short name: "local", "lambda", "azure" or "gcp".
func (h Host) String() string {
	if int(h) < len(hostNames) {
		return hostNames[h]
	}
	return fmt.Sprintf("Host(%d)", uint8(h))
}

// MarshalText writes the short name, so logs and JSON show "lambda", not 1.
func (h Host) MarshalText() ([]byte, error) {
	if int(h) >= len(hostNames) {
		return nil, fmt.Errorf("faas: unknown host %d", uint8(h))
	}
	return []byte(hostNames[h]), nil
}

// UnmarshalText reads a short name written by MarshalText.
func (h *Host) UnmarshalText(b []byte) error {
	for i, n := range hostNames {
		if n == string(b) {
			*h = Host(i)
			return nil
		}
	}
	return fmt.Errorf("faas: unknown host %q", b)
}

// DetectHost reports the host the process runs on, from the environment
// variables each platform sets for its child: AWS_LAMBDA_RUNTIME_API (Lambda)
// and FUNCTIONS_CUSTOMHANDLER_PORT (Azure); otherwise HostLocal. A nil
// getenv is os.Getenv.
func DetectHost(getenv func(string) string) Host {
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case getenv("AWS_LAMBDA_RUNTIME_API") != "":
		return HostLambda
	case getenv("FUNCTIONS_CUSTOMHANDLER_PORT") != "":
		return HostAzure
	default:
		return HostLocal
	}
}
