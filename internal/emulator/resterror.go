package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// REST refusals, shaped like the service's. What is recorded from the live
// service (conformance recordings, Microsoft's SDK tests): errors carry
// x-ms-error-code and a flat JSON body {code, message, target, details,
// innererror}; an unknown connection is 404 Info.Connection.NotExisted,
// "Connection `<id>` is not found.", target "Connection", as
// application/json; an invalid filter is 400 as application/problem+json
// whose message reads "Invalid syntax for '<filter>': <why>. (Parameter
// 'filter')". The other refusals' codes and texts are the emulator's own, in
// the same shape (docs/emulator.md lists them).

// Error codes.
const (
	codeBadRequest    = "Error.BadRequest"
	codeUnauthorized  = "Error.Unauthorized"
	codeNotFound      = "Error.NotFound"
	codeMethod        = "Error.MethodNotAllowed"
	codeTooLarge      = "Error.PayloadTooLarge"
	codeTimeout       = "Error.RequestTimeout"
	codeConnNotExists = "Info.Connection.NotExisted"
	codePermNotExists = "Info.Permission.NotExisted"
	codeGroupNotExist = "Info.Group.NotExisted"
	codeUserNotExists = "Info.User.NotExisted"
	codeShutdown      = "Error.ServiceUnavailable"
	codeInternal      = "Error.Internal"
)

// Content types of error answers.
const (
	contentJSON    = "application/json; charset=utf-8"
	contentProblem = "application/problem+json; charset=utf-8"
)

// restError is one refusal: its status, content type and flat body.
type restError struct {
	status      int
	contentType string // "" is contentJSON

	Code       string  `json:"code"`
	Message    string  `json:"message"`
	Target     *string `json:"target"`
	Details    any     `json:"details"`
	InnerError any     `json:"innererror"`
}

func (e *restError) Error() string { return e.Message }

func newRESTError(status int, code, target, msg string) *restError {
	e := &restError{status: status, Code: code, Message: msg}
	if target != "" {
		e.Target = &target
	}
	return e
}

func badRequest(target, msg string) *restError {
	return newRESTError(http.StatusBadRequest, codeBadRequest, target, msg)
}

// connectionNotFound is the service's recorded answer for an unknown connection.
func connectionNotFound(id string) *restError {
	return newRESTError(http.StatusNotFound, codeConnNotExists, "Connection", "Connection `"+id+"` is not found.")
}

// invalidFilter is the service's answer to a filter that does not parse.
func invalidFilter(filter string, err error) *restError {
	why := err.Error()
	var fe *FilterError
	if errors.As(err, &fe) {
		why = fe.serviceText(filter)
	}
	e := badRequest("filter", "Invalid syntax for '"+filter+"': "+why+" (Parameter 'filter')")
	e.contentType = contentProblem
	return e
}

func (e *restError) write(w http.ResponseWriter) {
	ct := e.contentType
	if ct == "" {
		ct = contentJSON
	}
	w.Header().Set("x-ms-error-code", e.Code)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(e)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	newRESTError(status, code, "", msg).write(w)
}

// API versions the emulator serves, as the service lists them in the
// api-supported-versions header of every answer.
var supportedAPIVersions = []string{"2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01"}

var supportedAPIVersionsHeader = strings.Join(supportedAPIVersions, ", ")

// checkAPIVersion refuses a missing, repeated or unknown api-version.
func checkAPIVersion(r *http.Request) *restError {
	vs := r.URL.Query()["api-version"]
	switch {
	case len(vs) == 0 || vs[0] == "":
		return badRequest("api-version", "The api-version query parameter is required.")
	case len(vs) > 1:
		return badRequest("api-version", "The api-version query parameter must be given once.")
	}
	for _, v := range supportedAPIVersions {
		if vs[0] == v {
			return nil
		}
	}
	return badRequest("api-version", "The api-version "+quoteShort(vs[0])+" is not supported; supported versions: "+supportedAPIVersionsHeader+".")
}

// restWriter wraps a REST answer: it remembers the status and the hub for
// the trace, and closes the connection after a refusal that left the body
// unread, so the server does not first drain a body that may trickle in
// (net/http reads up to 256 KB of it before it sends the answer).
type restWriter struct {
	http.ResponseWriter
	body   *trackedBody
	status int
	hub    string
}

func (w *restWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if w.body != nil && !w.body.eof {
			w.Header().Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *restWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *restWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trackedBody records whether a request body was read to its end.
type trackedBody struct {
	io.ReadCloser
	eof bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// readBody reads the request body, at most maxRESTBody bytes and within the
// read deadline the REST handler set (Config.ReadTimeout).
func (rc *restCall) readBody() ([]byte, *restError) {
	body, err := io.ReadAll(http.MaxBytesReader(rc.w, rc.r.Body, maxRESTBody))
	if err == nil {
		return body, nil
	}
	return nil, bodyError(err, rc.s.cfg.ReadTimeout)
}

// bodyError is the answer to a failed body read.
func bodyError(err error, timeout time.Duration) *restError {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return newRESTError(http.StatusRequestEntityTooLarge, codeTooLarge, "Request", fmt.Sprintf("The message is larger than %d bytes.", maxRESTBody))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return newRESTError(http.StatusRequestTimeout, codeTimeout, "Request", fmt.Sprintf("The request body did not arrive within %v.", timeout))
	}
	return badRequest("Request", "Reading the request body failed.")
}
