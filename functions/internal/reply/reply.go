// Package reply writes the JSON answers of the HTTP-triggered functions
// (broadcast, negotiate): successes and one-line {"error": ...} refusals.
package reply

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// JSON answers status with v as one line of JSON, never cached.
func JSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// Error answers status with {"error": reason}.
func Error(w http.ResponseWriter, status int, reason string) {
	JSON(w, status, map[string]string{"error": reason})
}

// Refuse logs a refused request as msg at warning level and answers status
// with {"error": reason}. reason must not hold a secret.
func Refuse(log *slog.Logger, msg string, w http.ResponseWriter, r *http.Request, status int, reason string) {
	log.Warn(msg, "status", status, "reason", reason, "method", r.Method, "remote", r.RemoteAddr)
	Error(w, status, reason)
}
