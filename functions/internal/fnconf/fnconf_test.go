package fnconf

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

const key = "SECRETKEYSECRETKEYSECRETKEY0123456789ABCD="

func TestCheckServiceParsesOnce(t *testing.T) {
	cs, err := CheckService("Endpoint=HTTPS://X.webpubsub.azure.com:443/;AccessKey="+key+";ClientEndpoint=https://edge.example;Version=1.0;", "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Endpoint != "https://x.webpubsub.azure.com" || cs.AccessKey != key || cs.ClientEndpoint != "https://edge.example" {
		t.Fatalf("parsed %+v", cs)
	}
	s, err := Start("test", func() (wps.ConnectionString, error) { return cs, nil }, nil, "chat", wps.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := s.Client.ClientAccessURL(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ca.BaseURL != "wss://edge.example/client/hubs/chat" {
		t.Fatalf("client endpoint not carried over: %q", ca.BaseURL)
	}
	for _, tc := range []struct{ connStr, hub, want string }{
		{"", "chat", "WEBPUBSUB_CONNECTION_STRING is required"},
		{"Endpoint=ftp://x;AccessKey=" + key, "chat", "WEBPUBSUB_CONNECTION_STRING: Endpoint"},
		{"Endpoint=http://x;AccessKey=" + key, "", "WEBPUBSUB_HUB is required"},
		{"Endpoint=http://x;AccessKey=" + key, "1chat", "WEBPUBSUB_HUB must start with a letter"},
	} {
		_, err := CheckService(tc.connStr, tc.hub, nil)
		var ce *Error
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "config: "+tc.want) || strings.Contains(err.Error(), key) {
			t.Errorf("CheckService(%q, %q) = %v, want a config error starting %q", tc.connStr, tc.hub, err, tc.want)
		}
	}
}

func TestLoadChecked(t *testing.T) {
	type cfg struct {
		Hub string `env:"WEBPUBSUB_HUB,required,notEmpty"`
		N   int    `env:"N" envDefault:"3"`
	}
	refuse := errors.New("refused")
	c, err := LoadChecked(map[string]string{"WEBPUBSUB_HUB": "chat"}, func(c *cfg) error {
		if c.N != 3 {
			t.Errorf("check saw %+v", c)
		}
		return refuse
	})
	if err != refuse || c.Hub != "chat" || c.N != 3 {
		t.Fatalf("got %+v, %v: want the loaded config with the check's error", c, err)
	}
	c, err = LoadChecked(map[string]string{"N": "x"}, func(*cfg) error { t.Error("check called on a config that did not load"); return nil })
	if err == nil || c != (cfg{}) || !strings.Contains(err.Error(), "WEBPUBSUB_HUB is required but not set") || !strings.Contains(err.Error(), "N: not a valid whole number") {
		t.Fatalf("got %+v, %v", c, err)
	}
}
