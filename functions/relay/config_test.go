package relay_test

import (
	"reflect"
	"testing"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf/fnconftest"
	"github.com/wpsfn/wpsfn/functions/relay"
)

const testConnStr = "Endpoint=http://127.0.0.1:1;AccessKey=SECRETKEYSECRETKEYSECRETKEY0123456789ABCD=;Version=1.0;"

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat"}
	c, err := relay.LoadConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	// An empty environment is Config{} (defaults are applied in New, in one place).
	if want := (relay.Config{ConnectionString: testConnStr, Hub: "chat"}); !reflect.DeepEqual(c, want) {
		t.Fatalf("loaded %+v, want %+v", c, want)
	}
	c, err = relay.LoadConfigFrom(fnconftest.With(base, map[string]string{
		"RELAY_MAP_TO": "group", "RELAY_MAP_ID_ATTRIBUTE": "room", "RELAY_MAP_DATA_POINTER": "/detail",
		"RELAY_DEDUPE_WINDOW": "1h", "RELAY_ID_FIELD": "eventId", "RELAY_DISABLE_DEDUPE": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Map != (relay.Mapping{To: "group", IDAttribute: "room", DataPointer: "/detail"}) || c.IDField != "eventId" || !c.DisableDedupe {
		t.Fatalf("loaded %+v", c)
	}
	fnconftest.Refuses(t, relay.LoadConfigFrom, base, []fnconftest.Bad{
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", ""),
		fnconftest.Set("WEBPUBSUB_HUB", ""),
		{Set: map[string]string{"RELAY_ALLOWED_TARGETS": "all,everyone"}, Names: []string{"RELAY_ALLOWED_TARGETS", "everyone"}},
		fnconftest.Set("RELAY_DEDUPE_WINDOW", "-1s"),
		fnconftest.Set("RELAY_DEDUPE_MAX_IDS", "-1"),
		fnconftest.Set("RELAY_DEDUPE_MAX_BYTES", "-1"),
		fnconftest.Set("RELAY_SEND_TIMEOUT", "-1s"),
		{Set: map[string]string{"RELAY_MAP_ID": "x"}, Names: []string{"RELAY_MAP_TO"}},
		fnconftest.Set("RELAY_MAP_TO", "room"),
		{Set: map[string]string{"RELAY_MAP_TO": "group"}, Names: []string{"RELAY_MAP_TO", "RELAY_MAP_ID"}},
		{Set: map[string]string{"RELAY_MAP_TO": "all", "RELAY_MAP_ID": "x"}, Names: []string{"RELAY_MAP_TO"}},
		{Set: map[string]string{"RELAY_MAP_TO": "user", "RELAY_MAP_ID": "x", "RELAY_MAP_ID_ATTRIBUTE": "u"}, Names: []string{"RELAY_MAP_TO"}},
		{Set: map[string]string{"RELAY_MAP_TO": "user", "RELAY_MAP_ID_POINTER": "user"}, Names: []string{"RELAY_MAP_ID_POINTER"}},
		{Set: map[string]string{"RELAY_MAP_TO": "all", "RELAY_MAP_DATA_POINTER": "/a~2"}, Names: []string{"RELAY_MAP_DATA_POINTER"}},
	}, "SECRETKEY")
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := relay.New(relay.Config{ConnectionString: testConnStr, Hub: "chat", DedupeMaxIDs: -1}); err == nil {
		t.Fatal("negative DedupeMaxIDs accepted")
	}
}
