package negotiate

import (
	"strings"
	"testing"
	"time"
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
	for _, tc := range []struct{ key, val string }{
		{"WEBPUBSUB_CONNECTION_STRING", ""},
		{"WEBPUBSUB_HUB", ""},
		{"NEGOTIATE_JWT_SECRET", ""},
		{"NEGOTIATE_JWT_SECRET", "short"},
		{"NEGOTIATE_ALLOW_QUERY_USER", "sometimes"},
		{"NEGOTIATE_TOKEN_LIFETIME", "1y"},
		{"NEGOTIATE_TOKEN_LIFETIME", "10s"},
		{"NEGOTIATE_JWT_LEEWAY", "-1s"},
		{"NEGOTIATE_ALLOWED_ORIGINS", "http://localhost:3000,localhost"},
		{"NEGOTIATE_ALLOWED_ORIGINS", "https://app.example/path"},
		{"NEGOTIATE_ROLES", "webpubsub.joinLeaveGroup,,x"},
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
		if err != nil && (strings.Contains(err.Error(), "SECRETKEY") || strings.Contains(err.Error(), "app-secret")) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
	// Development mode needs no secret.
	env := map[string]string{"WEBPUBSUB_CONNECTION_STRING": testConnStr, "WEBPUBSUB_HUB": "chat", "NEGOTIATE_ALLOW_QUERY_USER": "true", "NEGOTIATE_ALLOWED_ORIGINS": "*"}
	if c, err = LoadConfigFrom(env); err != nil || !c.AllowQueryUser {
		t.Fatalf("%+v, %v", c, err)
	}
}
