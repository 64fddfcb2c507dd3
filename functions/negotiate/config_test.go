package negotiate

import (
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/internal/fnconf/fnconftest"
	"github.com/wpsfn/wpsfn/internal/assert"
)

const testConnStr = "Endpoint=http://127.0.0.1:1;AccessKey=SECRETKEYSECRETKEYSECRETKEY0123456789ABCD=;Version=1.0;"

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat", "NEGOTIATE_JWT_SECRET": "app-secret-0123456789"}
	c, err := LoadConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenLifetime != time.Hour || c.AllowQueryUser || c.JWTLeeway != 30*time.Second || len(c.AllowedOrigins) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	code := Config{ConnectionString: testConnStr, Hub: "chat", JWTSecret: "app-secret-0123456789"}
	_, err = code.validate()
	assert.Success(t, err)
	assert.Equal(t, "Config{} after defaults", code, c)
	fnconftest.Refuses(t, LoadConfigFrom, base, []fnconftest.Bad{
		fnconftest.Set("WEBPUBSUB_CONNECTION_STRING", ""),
		fnconftest.Set("WEBPUBSUB_HUB", ""),
		fnconftest.Set("NEGOTIATE_JWT_SECRET", ""),
		fnconftest.Set("NEGOTIATE_JWT_SECRET", "short"),
		fnconftest.Set("NEGOTIATE_ALLOW_QUERY_USER", "sometimes"),
		fnconftest.Set("NEGOTIATE_TOKEN_LIFETIME", "1y"),
		fnconftest.Set("NEGOTIATE_TOKEN_LIFETIME", "10s"),
		fnconftest.Set("NEGOTIATE_JWT_LEEWAY", "-1s"),
		fnconftest.Set("NEGOTIATE_ALLOWED_ORIGINS", "http://localhost:3000,localhost"),
		fnconftest.Set("NEGOTIATE_ALLOWED_ORIGINS", "https://app.example/path"),
		fnconftest.Set("NEGOTIATE_ROLES", "webpubsub.joinLeaveGroup,,x"),
	}, "SECRETKEY", "app-secret")
	// Development mode needs no secret.
	env := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat", "NEGOTIATE_ALLOW_QUERY_USER": "true", "NEGOTIATE_ALLOWED_ORIGINS": "*"}
	if c, err = LoadConfigFrom(env); err != nil || !c.AllowQueryUser {
		t.Fatalf("%+v, %v", c, err)
	}
}
