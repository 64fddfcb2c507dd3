package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzRESTQuery feeds arbitrary query values to the REST operations that
// parse them (api-version, filter, messageTtlSeconds, minutesToExpire) and
// bodies to a send: every answer is a success or a service-shaped refusal
// (a flat JSON body with code and message), never a panic or a 500.
func FuzzRESTQuery(f *testing.F) {
	f.Add("2024-12-01", "invalid filter", "0", "60", []byte("x"), "text/plain")
	f.Add("2099-01-01", "userId eq 'a'", "301", "9223372036854775807", []byte(`{"a":1}`), "application/json")
	f.Add("2021-10-01", "'g' in groups and not (userId eq null)", "-1", "2147483647", []byte("\xff\xfe"), "text/plain; charset=utf-8")
	f.Add("", "((", "1e3", "0", []byte(`{`), "application/json")
	f.Add("2024-12-01", "userId eq", "300", "1", []byte{0, 1}, "application/octet-stream")
	s, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, version, filter, ttl, minutes string, body []byte, ct string) {
		for _, op := range []struct{ path, query string }{
			{"/api/hubs/chat/:send", url.Values{"api-version": {version}, "filter": {filter}, "messageTtlSeconds": {ttl}}.Encode()},
			{"/api/hubs/chat/:generateToken", url.Values{"api-version": {version}, "minutesToExpire": {minutes}}.Encode()},
		} {
			u := "http://emulator" + op.path + "?" + op.query
			req := httptest.NewRequest("POST", u, bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": u, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(DefaultAccessKey))
			req.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			switch {
			case w.Code == http.StatusAccepted || w.Code == http.StatusOK:
			case w.Code >= 400 && w.Code < 500:
				var e struct{ Code, Message string }
				if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code == "" || e.Message == "" || w.Header().Get("x-ms-error-code") != e.Code ||
					!strings.HasPrefix(w.Header().Get("Content-Type"), "application/") {
					t.Fatalf("%s: %d %q %s", u, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
				}
			default:
				t.Fatalf("%s: %d %s", u, w.Code, w.Body.Bytes())
			}
		}
	})
}
