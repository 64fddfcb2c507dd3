package emulator

import (
	"encoding/json"
	"net/http"
)

// Error codes.
const (
	codeBadRequest    = "Error.BadRequest"
	codeUnauthorized  = "Error.Unauthorized"
	codeNotFound      = "Error.NotFound"
	codeMethod        = "Error.MethodNotAllowed"
	codeTooLarge      = "Error.PayloadTooLarge"
	codeConnNotExists = "Info.Connection.NotExisted"
	codePermNotExists = "Info.Permission.NotExisted"
	codeGroupNotExist = "Info.Group.NotExisted"
	codeUserNotExists = "Info.User.NotExisted"
	codeShutdown      = "Error.ServiceUnavailable"
)

type restError struct {
	Code       string  `json:"code"`
	Message    string  `json:"message"`
	Target     *string `json:"target"`
	Details    any     `json:"details"`
	InnerError any     `json:"innererror"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(restError{Code: code, Message: msg})
}

// statusWriter remembers the status for the trace.
type statusWriter struct {
	http.ResponseWriter
	status int
	hub    string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
