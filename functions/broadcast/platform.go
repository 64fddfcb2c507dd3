package broadcast

import (
	"net/http"

	"github.com/wpsfn/wpsfn/functions/internal/bearer"
	"github.com/wpsfn/wpsfn/pkg/faas/lambdafn"
)

// Platform authentication: the host has authenticated the caller before the
// function runs, so no secret is needed.
const (
	// PlatformAWSIAM: the Lambda function URL has AuthType AWS_IAM (callers
	// sign with SigV4). The function still checks that the request context
	// names an IAM caller, so a URL left at AuthType NONE refuses everyone.
	PlatformAWSIAM = "aws-iam"
	// PlatformHost: Azure Functions authLevel function (a function key) or
	// Cloud Functions --no-allow-unauthenticated (invoker IAM) admitted the
	// caller; the function cannot see that proof and trusts its host.
	PlatformHost = "host"
)

// platformIdentity returns the caller the host authenticated, or a refusal.
func (h *handler) platformIdentity(r *http.Request) (*bearer.Identity, error) {
	if h.platform == PlatformHost {
		return &bearer.Identity{Method: "host"}, nil
	}
	req, ok := lambdafn.RequestFromContext(r.Context())
	if !ok || req.RequestContext.Authorizer == nil || req.RequestContext.Authorizer.IAM == nil || req.RequestContext.Authorizer.IAM.UserARN == "" {
		return nil, &bearer.Error{Reason: "no AWS IAM caller in the request context (is the function URL's AuthType AWS_IAM?)"}
	}
	iam := req.RequestContext.Authorizer.IAM
	return &bearer.Identity{Method: "aws-iam", Subject: iam.UserARN}, nil
}
