package broadcast

import (
	"strings"
	"testing"
	"time"
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
	cases := []struct {
		set   map[string]string
		names []string // in the error
	}{
		{map[string]string{"WEBPUBSUB_CONNECTION_STRING": ""}, []string{"WEBPUBSUB_CONNECTION_STRING"}},
		{map[string]string{"WEBPUBSUB_CONNECTION_STRING": "Endpoint=ftp://x;AccessKey=SECRETKEY"}, []string{"WEBPUBSUB_CONNECTION_STRING"}},
		{map[string]string{"WEBPUBSUB_HUB": ""}, []string{"WEBPUBSUB_HUB"}},
		{map[string]string{"WEBPUBSUB_HUB": "1bad hub"}, []string{"WEBPUBSUB_HUB"}},
		{map[string]string{"BROADCAST_SECRET": ""}, []string{"BROADCAST_SECRET", "BROADCAST_JWT_SECRET"}},
		{map[string]string{"BROADCAST_SECRET": "short"}, []string{"BROADCAST_SECRET"}},
		{map[string]string{"BROADCAST_JWT_SECRET": "short"}, []string{"BROADCAST_JWT_SECRET"}},
		{map[string]string{"BROADCAST_JWT_LEEWAY": "soon"}, []string{"BROADCAST_JWT_LEEWAY", "duration"}},
		{map[string]string{"BROADCAST_MAX_BODY_BYTES": "1MB"}, []string{"BROADCAST_MAX_BODY_BYTES", "whole number"}},
		{map[string]string{"BROADCAST_MAX_BODY_BYTES": "0"}, []string{"BROADCAST_MAX_BODY_BYTES"}},
		{map[string]string{"BROADCAST_ALLOWED_TARGETS": "all,everyone"}, []string{"BROADCAST_ALLOWED_TARGETS", "everyone"}},
	}
	for _, c := range cases {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range c.set {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		_, err := LoadConfigFrom(env)
		if err == nil {
			t.Errorf("%v: no error", c.set)
			continue
		}
		for _, n := range c.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%v: error %q does not name %s", c.set, err, n)
			}
		}
		if strings.Contains(err.Error(), "SECRETKEY") || strings.Contains(err.Error(), "short") && c.set["BROADCAST_SECRET"] == "short" {
			t.Errorf("%v: error %q leaks a secret", c.set, err)
		}
		if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("error is not one line: %q", err)
		}
	}
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
	for _, bad := range []map[string]string{
		{"BROADCAST_SCHEDULE_TARGET": "room:lobby"},
		{"BROADCAST_SCHEDULE_TARGET": "group:"},
		{"BROADCAST_SCHEDULE_MESSAGE": "{{.Nope}}"},
		{"BROADCAST_SCHEDULE_MESSAGE": "{{.Time"},
		{"BROADCAST_SCHEDULE_MESSAGE": `{"time":{{.Time}}}`}, // unquoted: not JSON
		{"BROADCAST_SCHEDULE_CONTENT_TYPE": "xml"},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		var name string
		for k, v := range bad {
			env[k], name = v, k
		}
		if _, err := LoadScheduleConfigFrom(env); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", bad, err, name)
		}
	}
	env := map[string]string{"BROADCAST_SCHEDULE_MESSAGE": "tick {{.Unix}}", "BROADCAST_SCHEDULE_CONTENT_TYPE": "text", "BROADCAST_SCHEDULE_TARGET": "group:lob:by"}
	for k, v := range base {
		env[k] = v
	}
	c, err = LoadScheduleConfigFrom(env)
	if err != nil {
		t.Fatal(err)
	}
	if tg, _ := parseTarget(c.Target); tg != (target{"group", "lob:by"}) {
		t.Fatalf("target %+v", tg)
	}
}
