package broadcast

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdaurl"
)

// TestPlatformAWSIAM serves broadcast through aws-lambda-go's lambdaurl, as
// a function URL with AuthType AWS_IAM delivers it: the caller's ARN from
// the request context is the identity, and a request without one is refused.
func TestPlatformAWSIAM(t *testing.T) {
	h, rec, logs := newBroadcast(t, func(c *Config) { c.Secret, c.JWTSecret, c.PlatformAuth = "", "", PlatformAWSIAM })
	serve := lambdaurl.Wrap(h)
	call := func(iam *events.LambdaFunctionURLRequestContextAuthorizerIAMDescription) (int, string) {
		req := &events.LambdaFunctionURLRequest{RawPath: "/", Body: `{"to":"all","text":"hi"}`,
			Headers:        map[string]string{"content-type": "application/json"},
			RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodPost, Path: "/"}}}
		if iam != nil {
			req.RequestContext.Authorizer = &events.LambdaFunctionURLRequestContextAuthorizerDescription{IAM: iam}
		}
		resp, err := serve(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const arn = "arn:aws:sts::123456789012:assumed-role/ops/alice"
	if status, body := call(&events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{UserARN: arn, AccountID: "123456789012"}); status != http.StatusAccepted {
		t.Fatalf("IAM caller: %d %s", status, body)
	}
	if status, body := call(nil); status != http.StatusUnauthorized || !strings.Contains(body, "no AWS IAM caller in the request context") {
		t.Fatalf("no IAM caller: %d %s", status, body)
	}
	if n := len(rec.Requests()); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
	if !strings.Contains(logs.String(), "auth=aws-iam sub="+arn) {
		t.Fatalf("the caller's ARN is not logged: %s", logs)
	}
}
