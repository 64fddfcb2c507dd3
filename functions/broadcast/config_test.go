package broadcast

import (
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf/fnconftest"
	"github.com/wpsfn/wpsfn/internal/assert"
)

const testConnStr = "Endpoint=http://127.0.0.1:1;AccessKey=SECRETKEYSECRETKEYSECRETKEY0123456789ABCD=;Version=1.0;"

func TestLoadConfig(t *testing.T) {
	base := map[string]string{
		"WEBPUBSUB_CONNECTION_STRING": testConnStr,
		"WEBPUBSUB_HUB":               "chat",
		"BROADCAST_SECRET":            "plain-secret-0123456789",
	}
	c, err := LoadConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTLeeway != 30*time.Second || c.MaxBodyBytes != 1<<20 || strings.Join(c.AllowedTargets, ",") != "all,user,group,connection" {
		t.Fatalf("defaults: %+v", c)
	}
	code := Config{ConnectionString: testConnStr, Hub: "chat", Secret: "plain-secret-0123456789"}
	_, err = code.validate()
	assert.Success(t, err)
	assert.Equal(t, "Config{} after defaults", code, c)
	fnconftest.Refuses(t, LoadConfigFrom, base, []fnconftest.Bad{
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", ""),
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", "Endpoint=ftp://x;AccessKey=SECRETKEY"),
		fnconftest.Set("WEBPUBSUB_HUB", ""),
		fnconftest.Set("WEBPUBSUB_HUB", "1bad hub"),
		{Set: map[string]string{"BROADCAST_SECRET": ""}, Names: []string{"BROADCAST_SECRET", "BROADCAST_JWT_SECRET"}},
		fnconftest.Set("BROADCAST_SECRET", "short"),
		fnconftest.Set("BROADCAST_JWT_SECRET", "short"),
		{Set: map[string]string{"BROADCAST_JWT_LEEWAY": "soon"}, Names: []string{"BROADCAST_JWT_LEEWAY", "duration"}},
		{Set: map[string]string{"BROADCAST_MAX_BODY_BYTES": "1MB"}, Names: []string{"BROADCAST_MAX_BODY_BYTES", "whole number"}},
		fnconftest.Set("BROADCAST_MAX_BODY_BYTES", "-1"),
		fnconftest.Set("BROADCAST_JWT_LEEWAY", "-1s"),
		{Set: map[string]string{"BROADCAST_ALLOWED_TARGETS": "all,everyone"}, Names: []string{"BROADCAST_ALLOWED_TARGETS", "everyone"}},
	}, "SECRETKEY")
}

func TestLoadScheduleConfig(t *testing.T) {
	base := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat"}
	c, err := LoadScheduleConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.Target != "all" || c.Message != DefaultScheduleMessage || c.ContentType != "json" {
		t.Fatalf("defaults: %+v", c)
	}
	code := ScheduleConfig{ConnectionString: testConnStr, Hub: "chat"}
	_, err = code.compile()
	assert.Success(t, err)
	assert.Equal(t, "ScheduleConfig{} after defaults", code, c)
	fnconftest.Refuses(t, LoadScheduleConfigFrom, base, []fnconftest.Bad{
		fnconftest.Set("BROADCAST_SCHEDULE_TARGET", "room:lobby"),
		fnconftest.Set("BROADCAST_SCHEDULE_TARGET", "group:"),
		fnconftest.Set("BROADCAST_SCHEDULE_MESSAGE", "{{.Nope}}"),
		fnconftest.Set("BROADCAST_SCHEDULE_MESSAGE", "{{.Time"),
		fnconftest.Set("BROADCAST_SCHEDULE_MESSAGE", `{"time":{{.Time}}}`), // unquoted: not JSON
		fnconftest.Set("BROADCAST_SCHEDULE_CONTENT_TYPE", "xml"),
	}, "SECRETKEY")
	c, err = LoadScheduleConfigFrom(fnconftest.With(base, map[string]string{"BROADCAST_SCHEDULE_MESSAGE": "tick {{.Unix}}", "BROADCAST_SCHEDULE_CONTENT_TYPE": "text", "BROADCAST_SCHEDULE_TARGET": "group:lob:by"}))
	if err != nil {
		t.Fatal(err)
	}
	if tg, _ := parseTarget(c.Target); tg != (target{"group", "lob:by"}) {
		t.Fatalf("target %+v", tg)
	}
}
