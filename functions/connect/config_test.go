package connect

import (
	"testing"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf/fnconftest"
	"github.com/wpsfn/wpsfn/internal/assert"
)

const testConnStr = "Endpoint=http://127.0.0.1:1;AccessKey=SECRETKEYSECRETKEYSECRETKEY0123456789ABCD=;Version=1.0;"

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat"}
	c, err := LoadConfigFrom(base)
	assert.Success(t, err)
	// Config{} with the required fields is what the environment gives.
	code := Config{ConnectionString: testConnStr, Hub: "chat"}
	_, err = code.validate()
	assert.Success(t, err)
	assert.Equal(t, "Config{} after defaults", code, c)
	assert.Equal(t, "roles", c.Roles, []string{"webpubsub.joinLeaveGroup"})
	assert.Equal(t, "max groups", c.MaxGroups, 10)
	assert.Equal(t, "first subprotocol", c.Subprotocols[0], "json.reliable.webpubsub.azure.v1")
	assert.True(t, "greets and announces leaves by default", !c.DisableGreet && !c.DisableLeaveAnnouncement && !c.AllowAnonymous)
	fnconftest.Refuses(t, LoadConfigFrom, base, []fnconftest.Bad{
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", ""),
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", "AccessKey=SECRETKEY"),
		fnconftest.Set("WEBPUBSUB_HUB", "chat room"),
		fnconftest.Set("CONNECT_ALLOWED_GROUPS", "lobby,\x01"),
		fnconftest.Set("CONNECT_MAX_GROUPS", "many"),
		fnconftest.Set("CONNECT_MAX_GROUPS", "-2"),
		fnconftest.Set("CONNECT_ROLES", "webpubsub.joinLeaveGroup,admin"),
		fnconftest.Set("CONNECT_ALLOW_ANONYMOUS", "yes please"),
		fnconftest.Set("CONNECT_DISABLE_GREET", "2"),
		fnconftest.Set("CONNECT_GREET", "false"),
		fnconftest.Set("CONNECT_ANNOUNCE_LEAVE", "true"),
		fnconftest.Set("CONNECT_SUBPROTOCOLS", "a,,b"),
	}, "SECRETKEY")
	env := fnconftest.With(base, map[string]string{"CONNECT_ALLOWED_GROUPS": "lobby,random", "CONNECT_ROLES": "webpubsub.sendToGroup.lobby,webpubsub.joinLeaveGroup", "CONNECT_ALLOW_ANONYMOUS": "true"})
	if c, err = LoadConfigFrom(env); err != nil || len(c.AllowedGroups) != 2 || len(c.Roles) != 2 || !c.AllowAnonymous {
		t.Fatalf("%+v, %v", c, err)
	}
}
