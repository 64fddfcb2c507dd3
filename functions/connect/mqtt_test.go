package connect_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/functions/internal/wpsrec"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

func TestMQTTConnect(t *testing.T) {
	rec := wpsrec.New(t)
	sum := sha256.Sum256([]byte("pw1"))
	h, err := connect.New(connect.Config{ConnectionString: rec.ConnectionString(), Hub: "iot",
		MQTTDevices: map[string]string{"sensor1": hex.EncodeToString(sum[:])},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		name     string
		version  int
		user, pw string
		sub      string
		wantUser string
		wantCode int // 0: accepted
	}{
		{"device 5.0", 5, "sensor1", "pw1", "", "sensor1", 0},
		{"device 3.1.1", 4, "sensor1", "pw1", "", "sensor1", 0},
		{"wrong password 5.0", 5, "sensor1", "nope", "", "", 0x86},
		{"wrong password 3.1.1", 4, "sensor1", "nope", "", "", 4},
		{"unknown device 5.0", 5, "other", "pw1", "", "", 0x86},
		{"token user", 5, "", "", "alice", "alice", 0},
		{"anonymous 5.0", 5, "", "", "", "", 0x87},
		{"anonymous 3.1.1", 4, "", "", "", "", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &cloudevents.ConnectRequest{
				ConnectionContext: cloudevents.ConnectionContext{Hub: "iot", ConnectionID: "dev1", Subprotocol: "mqtt", PhysicalConnectionID: "p1"},
				Subprotocols:      []string{"mqtt"},
				MQTT:              &cloudevents.MQTTConnectProperties{ProtocolVersion: tc.version, Username: tc.user, Password: []byte(tc.pw)},
			}
			if tc.sub != "" {
				req.Claims = map[string][]string{"sub": {tc.sub}}
			}
			a, err := (&upstream.Caller{Keys: cloudevents.NewKeys(wpsrec.AccessKey)}).Send(context.Background(), srv.URL, req)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode == 0 {
				res, err := a.Connect()
				if err != nil || res == nil || res.UserID != tc.wantUser || res.Subprotocol != "" {
					t.Fatalf("answer %d %+v %v, want user %s and no subprotocol", a.Status, res, err, tc.wantUser)
				}
				return
			}
			_, err = a.Connect()
			ce, ok := err.(*cloudevents.Error)
			if !ok || ce.MQTT == nil || ce.MQTT.Code != tc.wantCode {
				t.Fatalf("answer %d %v, want an MQTT refusal with code %#x", a.Status, err, tc.wantCode)
			}
		})
	}
}
