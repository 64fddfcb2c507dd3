package message

import (
	"strings"
	"testing"
)

const testConnStr = "Endpoint=http://127.0.0.1:1;AccessKey=SECRETKEYSECRETKEYSECRETKEY0123456789ABCD=;Version=1.0;"

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat"}
	c, err := LoadConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Events, ",") != "message" || c.MaxBytes != 4096 || c.MaxTextRunes != 1000 || c.RoomPattern != DefaultRoomPattern || c.AllowAnonymous {
		t.Fatalf("defaults: %+v", c)
	}
	for _, tc := range []struct{ key, val, want string }{
		{"WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://x", "WEBPUBSUB_CONNECTION_STRING"},
		{"WEBPUBSUB_HUB", "", "WEBPUBSUB_HUB"},
		{"MESSAGE_MAX_BYTES", "4k", "MESSAGE_MAX_BYTES"},
		{"MESSAGE_MAX_BYTES", "-1", "MESSAGE_MAX_BYTES"},
		{"MESSAGE_MAX_TEXT_RUNES", "0", "MESSAGE_MAX_TEXT_RUNES"},
		{"MESSAGE_ROOM_PATTERN", "([a-z]", "MESSAGE_ROOM_PATTERN"},
		{"MESSAGE_ALLOWED_ROOMS", "lobby,bad room", "MESSAGE_ALLOWED_ROOMS"},
		{"MESSAGE_ALLOW_ANONYMOUS", "perhaps", "MESSAGE_ALLOW_ANONYMOUS"},
		{"MESSAGE_EVENTS", "message,", "MESSAGE_EVENTS"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		if tc.val == "" {
			delete(env, tc.key)
		} else {
			env[tc.key] = tc.val
		}
		_, err := LoadConfigFrom(env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: err = %v, want one naming %s", tc.key, tc.val, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
			t.Errorf("error leaks the key: %v", err)
		}
	}
}
