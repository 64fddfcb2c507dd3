package message

import (
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf/fnconftest"
	"github.com/wpsfn/wpsfn/internal/assert"
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
	code := Config{ConnectionString: testConnStr, Hub: "chat"}
	_, _, err = code.compile()
	assert.Success(t, err)
	assert.Equal(t, "Config{} after defaults", code, c)
	fnconftest.Refuses(t, LoadConfigFrom, base, []fnconftest.Bad{
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", "Endpoint=http://x"),
		fnconftest.Set("WEBPUBSUB_HUB", ""),
		fnconftest.Set("MESSAGE_MAX_BYTES", "4k"),
		fnconftest.Set("MESSAGE_MAX_BYTES", "-1"),
		fnconftest.Set("MESSAGE_MAX_TEXT_RUNES", "-5"),
		fnconftest.Set("MESSAGE_ROOM_PATTERN", "([a-z]"),
		fnconftest.Set("MESSAGE_ALLOWED_ROOMS", "lobby,bad room"),
		fnconftest.Set("MESSAGE_ALLOW_ANONYMOUS", "perhaps"),
		fnconftest.Set("MESSAGE_EVENTS", "message,"),
	}, "SECRETKEY")
}
