package connect

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
	if strings.Join(c.Roles, ",") != "webpubsub.joinLeaveGroup" || c.MaxGroups != 10 || c.AllowAnonymous || !c.Greet || !c.AnnounceLeave || len(c.AllowedGroups) != 0 || c.Subprotocols[0] != "json.reliable.webpubsub.azure.v1" {
		t.Fatalf("defaults: %+v", c)
	}
	for _, tc := range []struct{ key, val string }{
		{"WEBPUBSUB_CONNECTION_STRING", ""},
		{"WEBPUBSUB_CONNECTION_STRING", "AccessKey=SECRETKEY"},
		{"WEBPUBSUB_HUB", "chat room"},
		{"CONNECT_ALLOWED_GROUPS", "lobby,\x01"},
		{"CONNECT_MAX_GROUPS", "many"},
		{"CONNECT_MAX_GROUPS", "-2"},
		{"CONNECT_ROLES", "webpubsub.joinLeaveGroup,admin"},
		{"CONNECT_ALLOW_ANONYMOUS", "yes please"},
		{"CONNECT_GREET", "2"},
		{"CONNECT_SUBPROTOCOLS", "a,,b"},
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
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%q: err = %v, want one naming it", tc.key, tc.val, err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
			t.Errorf("error leaks the key: %v", err)
		}
	}
	env := map[string]string{"CONNECT_ALLOWED_GROUPS": "lobby,random", "CONNECT_ROLES": "webpubsub.sendToGroup.lobby,webpubsub.joinLeaveGroup", "CONNECT_ALLOW_ANONYMOUS": "true"}
	for k, v := range base {
		env[k] = v
	}
	if c, err = LoadConfigFrom(env); err != nil || len(c.AllowedGroups) != 2 || len(c.Roles) != 2 || !c.AllowAnonymous {
		t.Fatalf("%+v, %v", c, err)
	}
}
