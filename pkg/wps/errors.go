package wps

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// ResponseError is the error for any answer from the service that is not a
// success. Use errors.As to get it from a Client method's error. Its text
// never contains the access key or a token.
type ResponseError struct {
	// StatusCode is the HTTP status, e.g. 404.
	StatusCode int
	// Code is the service's error code (the x-ms-error-code header or the body's
	// "code"), e.g. "Info.Connection.NotExisted"; empty when the service sent none.
	Code string
	// Message is the service's explanation, on one line.
	Message string
	// RequestID is the x-ms-request-id the service assigned to the call, for support cases.
	RequestID string
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
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

// newResponseError reads resp's body (bounded) into a ResponseError; secrets
// lists strings (token, key) that must never appear in its text.
func newResponseError(resp *http.Response, secrets ...string) *ResponseError {
	e := &ResponseError{
		StatusCode: resp.StatusCode,
		Code:       resp.Header.Get("x-ms-error-code"),
		RequestID:  resp.Header.Get("x-ms-request-id"),
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
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
	return e
}

// oneLine folds s onto one line and cuts it at max bytes (at a rune boundary).
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	return shorten.String(s, max)
}
