package faas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxLocalMessage bounds a POST to a message function's local endpoint: an
// SQS batch of ten 1 MiB messages, with room for its JSON.
const maxLocalMessage = 12 << 20

// Local message endpoint headers.
const (
	// HeaderMessageID names the message id of a bare message (the dedupe
	// key); without it the message is never taken for a duplicate.
	HeaderMessageID = "X-Message-Id"
	// HeaderMessageGroup names its ordering group.
	HeaderMessageGroup = "X-Message-Group"
)

// messagesHTTP is a message function's local endpoint: POST / with an SQS,
// SNS or EventBridge event as Lambda delivers it (answered as Lambda's
// handler answers: an SQS batch with {"batchItemFailures":[...]}), or any
// other body as one bare message. A bare message is answered 202
// {"id":...,"status":"done"} when done, 422 {"id","status":"dropped","error"}
// for a permanent failure, 503 {"id","status":"retry","error"} for one the
// platform would redeliver.
func messagesHTTP(fn Function) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": fmt.Sprintf("%s takes messages: POST one (or an SQS, SNS or EventBridge event)", fn.Name)})
			return
		}
		body, err := readBody(http.MaxBytesReader(w, r.Body, maxLocalMessage), r.ContentLength)
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", maxLocalMessage)})
			return
		}
		ev, shape, decodeErr := decodeLambdaEvent(body)
		if shape != "" {
			out, err := handleLambdaEvent(r.Context(), fn, ev, shape, decodeErr)
			ev.release()
			var pe *PayloadError
			switch {
			case errors.As(err, &pe):
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			case err != nil:
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "retry", "error": err.Error()})
			case out == nil:
				writeJSON(w, http.StatusOK, map[string]string{"status": "done"})
			default:
				writeJSON(w, http.StatusOK, out)
			}
			return
		}
		ev.release()
		m := Message{ID: r.Header.Get(HeaderMessageID), Trigger: TriggerLocal, Body: body, Group: r.Header.Get(HeaderMessageGroup)}
		err = HandleMessages(r.Context(), fn, []Message{m})[0]
		switch {
		case err == nil:
			writeJSON(w, http.StatusAccepted, map[string]string{"id": m.ID, "status": "done"})
		case IsPermanent(err):
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"id": m.ID, "status": "dropped", "error": err.Error()})
		default:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"id": m.ID, "status": "retry", "error": err.Error()})
		}
	})
}

// readBody reads r whole into one buffer of the request's declared length
// (io.ReadAll, starting at 512 bytes, would double its way to a batch's
// size, copying it each time); r bounds what is read.
func readBody(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 || declared > maxLocalMessage {
		return io.ReadAll(r)
	}
	var b bytes.Buffer
	b.Grow(int(declared) + bytes.MinRead) // room for the last read, the one that meets EOF
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
