package fnconf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Workload identity federation: the function's own platform identity
// token is the client assertion Entra exchanges for an access token, so no
// secret is stored anywhere. azidentity's ClientAssertionCredential calls
// the getter only when it needs a new Entra token, and each call fetches a
// fresh platform token (never a file a cache might hold past its expiry).

// maxAssertionBytes bounds a platform's answer.
const maxAssertionBytes = 64 << 10

// awsAssertion returns a getter for an STS GetWebIdentityToken JWT (AWS
// outbound identity federation) for audience, signed with the function's
// role credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, which Lambda sets) for the regional STS endpoint of
// AWS_REGION (the call is not served by the global endpoint), or
// AWS_ENDPOINT_URL_STS when set.
func awsAssertion(hc *http.Client, audience string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		region := os.Getenv("AWS_REGION")
		if region == "" {
			region = os.Getenv("AWS_DEFAULT_REGION")
		}
		creds := aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
		if region == "" || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
			return "", errors.New("aws-federation: AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (Lambda sets them)")
		}
		endpoint := os.Getenv("AWS_ENDPOINT_URL_STS")
		if endpoint == "" {
			endpoint = "https://sts." + region + ".amazonaws.com/"
		}
		form := url.Values{"Action": {"GetWebIdentityToken"}, "Version": {"2011-06-15"}, "Audience.member.1": {audience},
			"SigningAlgorithm": {"RS256"}, "DurationSeconds": {"300"}}
		body := form.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			return "", fmt.Errorf("aws-federation: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sts", region, time.Now()); err != nil {
			return "", fmt.Errorf("aws-federation: signing: %w", err)
		}
		b, err := fetch(hc, req, "aws-federation: STS GetWebIdentityToken")
		if err != nil {
			return "", err
		}
		var out struct {
			Token string `xml:"GetWebIdentityTokenResult>WebIdentityToken"`
		}
		if err := xml.Unmarshal(b, &out); err != nil || out.Token == "" {
			return "", errors.New("aws-federation: STS GetWebIdentityToken answered without a WebIdentityToken")
		}
		return out.Token, nil
	}
}

// gcpAssertion returns a getter for the metadata server's ID token of the
// function's service account for audience (GCE_METADATA_HOST overrides
// the host, as in Google's own libraries).
func gcpAssertion(hc *http.Client, audience string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		host := os.Getenv("GCE_METADATA_HOST")
		if host == "" {
			host = "metadata.google.internal"
		}
		u := "http://" + host + "/computeMetadata/v1/instance/service-accounts/default/identity?audience=" + url.QueryEscape(audience) + "&format=full"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", fmt.Errorf("gcp-federation: %w", err)
		}
		req.Header.Set("Metadata-Flavor", "Google")
		b, err := fetch(hc, req, "gcp-federation: metadata server identity")
		if err != nil {
			return "", err
		}
		tok := strings.TrimSpace(string(b))
		if strings.Count(tok, ".") != 2 {
			return "", errors.New("gcp-federation: the metadata server's answer is not a JWT")
		}
		return tok, nil
	}
}

// fetch sends req and returns its 200 body (at most maxAssertionBytes). An
// error names what failed and the status, never the body (it may hold a
// token).
func fetch(hc *http.Client, req *http.Request, what string) ([]byte, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAssertionBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: reading the answer: %w", what, err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: status %d", what, resp.StatusCode)
	case len(b) > maxAssertionBytes:
		return nil, fmt.Errorf("%s: answer longer than %d bytes", what, maxAssertionBytes)
	}
	return b, nil
}
