package wps

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// ResponseError is the error for any answer from the service that is not a
// success, in the manner of go-github's ErrorResponse. Use errors.As to get
// it from a Client method's error. Neither its text nor its fields contain
// the access key or a token.
type ResponseError struct {
	// Operation is the REST API operation that failed, e.g. "SendToAll" or
	// "GenerateClientToken" (the names of the API's operationIds and of the
	// Client's methods).
	Operation string
	// Method is the HTTP method of the request, e.g. "POST".
	Method string
	// URL is the URL the request was sent to (the reverse proxy's, if one is
	// configured), with the values of query parameters that can carry a
	// secret (access_token, token, sig, signature, code, key, secret)
	// replaced by "REDACTED".
	URL string
	// StatusCode is the HTTP status, e.g. 404.
	StatusCode int
	// Code is the service's error code (the x-ms-error-code header or the body's
	// "code"), e.g. "Info.Connection.NotExisted"; empty when the service sent none.
	Code string
	// Message is the service's explanation, on one line.
	Message string
	// RequestID is the x-ms-request-id the service assigned to the call, for support cases.
	RequestID string
	// Response is the service's answer. Its body has already been read (into
	// Code and Message) and closed, and its Request carries neither the
	// Authorization header nor an unredacted URL.
	Response *http.Response
}

// Error reads as one line, e.g.
// "wps: SendToUser: POST https://x.webpubsub.azure.com/api/hubs/chat/users/bob/:send?api-version=2024-12-01: 403 Forbidden: Code: text (request id 1f2e)".
func (e *ResponseError) Error() string {
	var b strings.Builder
	b.WriteString("wps: ")
	if e.Operation != "" {
		b.WriteString(e.Operation + ": ")
	}
	if e.Method != "" || e.URL != "" {
		b.WriteString(strings.TrimSpace(e.Method+" "+e.URL) + ": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// newResponseError reads resp's body (bounded) into a ResponseError for the
// call op (method, sent URL rawURL) and closes the body; secrets lists
// strings (token, key) that must never appear in it.
func newResponseError(op, method, rawURL string, resp *http.Response, secrets ...string) *ResponseError {
	redacted := redactURL(rawURL)
	e := &ResponseError{
		Operation:  op,
		Method:     method,
		URL:        redacted,
		StatusCode: resp.StatusCode,
		Code:       resp.Header.Get("x-ms-error-code"),
		RequestID:  resp.Header.Get("x-ms-request-id"),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	var parsed struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if len(body) > 0 && json.Unmarshal(body, &parsed) == nil {
		if parsed.Error != nil { // the TypeSpec form wraps the details
			parsed.Code, parsed.Message = parsed.Error.Code, parsed.Error.Message
		}
		if e.Code == "" {
			e.Code = parsed.Code
		}
		e.Message = parsed.Message
	} else if len(body) > 0 {
		e.Message = string(body)
	}
	// Redact before cutting: a secret across the cut would leave a piece.
	for _, s := range secrets {
		if s == "" {
			continue
		}
		e.Message = strings.ReplaceAll(e.Message, s, "[redacted]")
		e.Code = strings.ReplaceAll(e.Code, s, "[redacted]")
		e.RequestID = strings.ReplaceAll(e.RequestID, s, "[redacted]")
	}
	e.Message = oneLine(e.Message, 300)
	e.Code = oneLine(e.Code, 100)
	e.RequestID = oneLine(e.RequestID, 100)
	e.Response = sanitizedResponse(resp, redacted)
	return e
}

// sanitizedResponse returns a copy of resp safe to keep in an error: an
// empty body, and a request without its headers (Authorization) and with
// the redacted URL.
func sanitizedResponse(resp *http.Response, redactedURL string) *http.Response {
	r := *resp
	r.Body = http.NoBody
	if resp.Request != nil {
		req := &http.Request{Method: resp.Request.Method, Host: resp.Request.Host, Header: http.Header{}, Proto: resp.Request.Proto}
		req.URL, _ = url.Parse(redactedURL)
		r.Request = req
	}
	return &r
}

// secretQueryKeys are the query parameters whose values redactURL hides.
var secretQueryKeys = []string{"access_token", "token", "sig", "signature", "code", "key", "secret"}

// redactURL replaces the values of secret-bearing query parameters in u.
func redactURL(u string) string {
	path, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	parts := strings.Split(query, "&")
	for i, kv := range parts {
		k, _, _ := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		for _, s := range secretQueryKeys {
			if strings.EqualFold(name, s) {
				parts[i] = k + "=REDACTED"
				break
			}
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// oneLine folds s onto one line and cuts it at max bytes (at a rune boundary).
func oneLine(s string, max int) string {
	return shorten.String(strings.Join(strings.Fields(s), " "), max)
}
