package message

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/pkg/cloudevents"
)

// FuzzValidate: any event data either is refused with a one-line reason or
// yields a chat message that satisfies every rule.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"room":"lobby","text":"hi"}`, `{"room":"../x","text":"hi"}`, `{"room":"lobby","text":""}`, `{"room":"lobby","text":"a\u0007"}`,
		`{"room":5}`, `[]`, `null`, ``, "{\"room\":\"lobby\",\"text\":\"\xff\"}", `{"room":"lobby","text":"hi","room":"other"}`,
	} {
		f.Add([]byte(s), "message", "alice")
	}
	cfg, err := LoadConfigFrom(map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat", "MESSAGE_MAX_BYTES": "512", "MESSAGE_MAX_TEXT_RUNES": "100"})
	if err != nil {
		f.Fatal(err)
	}
	_, re, _ := cfg.compile()
	fn := &function{cfg: cfg, room: re}
	f.Fuzz(func(t *testing.T, data []byte, event, user string) {
		req := &cloudevents.UserEventRequest{ConnectionContext: cloudevents.ConnectionContext{EventName: event, UserID: user}, Data: data, DataType: cloudevents.DataJSON}
		c, err := fn.validate(req)
		if err != nil {
			if err.Error() == "" || strings.ContainsAny(err.Error(), "\r\n") && !strings.Contains(event, "\n") && !strings.Contains(string(data), "\n") {
				t.Fatalf("reason %q", err)
			}
			return
		}
		if event != "message" || user == "" || len(data) > 512 || !utf8.Valid(data) || !re.MatchString(c.Room) ||
			strings.TrimSpace(c.Text) == "" || utf8.RuneCountInString(c.Text) > 100 || strings.IndexFunc(c.Text, badRune) >= 0 {
			t.Fatalf("accepted %q from %q/%q", data, event, user)
		}
	})
}
