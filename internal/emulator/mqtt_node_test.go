package emulator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/wpsfn/wpsfn/internal/nodetest"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestMQTTWithMQTTjs: MQTT.js 5.16.0 over ws:// at MQTT 3.1.1 and 5.0, and
// Microsoft's @azure/web-pubsub-client across protocols.
func TestMQTTWithMQTTjs(t *testing.T) {
	nodetest.Require(t)
	e := newEnv(t, Config{})
	tok := e.mqttToken("h", "js", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	bad := sign(t, e.claims("h", "js"), "wrong-key")
	webURL := e.ws + "/client/hubs/h?access_token=" + e.token("h", "web", wps.RoleJoinLeaveGroupAny, wps.RoleSendToGroupAny)
	peer := startPeer(t, "emulator-mqtt.js", e.mqttURL("h", tok), e.mqttURL("h", bad), webURL)
	want := hex.EncodeToString(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}())
	for {
		var step map[string]any
		peer.line(&step)
		v := step["v"]
		switch step["step"] {
		case "connack":
			if v == 5.0 {
				p, _ := step["properties"].(map[string]any)
				if p["retainAvailable"] != false || p["wildcardSubscriptionAvailable"] != false || p["sharedSubscriptionAvailable"] != false {
					t.Errorf("MQTT.js read CONNACK properties %v: want retain, wildcards and shared subscriptions unavailable", p)
				}
			}
		case "suback":
			if fmt.Sprint(step["granted"]) != "[2]" {
				t.Errorf("v%v SUBACK %v", v, step["granted"])
			}
		case "publish":
			if step["hex"] != want || step["gotQos"] != step["qos"] || step["topic"] != "jst"+fmt.Sprint(v) {
				t.Errorf("v%v publish QoS %v: got topic %v QoS %v payload %.20v…", v, step["qos"], step["topic"], step["gotQos"], step["hex"])
			}
		case "wildcard":
			wantCodes := "[128 128]"
			if v == 5.0 {
				wantCodes = "[162 158]"
			}
			if fmt.Sprint(step["granted"]) != wantCodes {
				t.Errorf("v%v wildcard and shared SUBACK %v, want %s", v, step["granted"], wantCodes)
			}
		case "badtoken":
			wantCode := 5.0
			if v == 5.0 {
				wantCode = 0x87
			}
			if step["code"] != wantCode {
				t.Errorf("v%v refused token: CONNACK code %v, want %v", v, step["code"], wantCode)
			}
		case "cross":
			b, _ := json.Marshal(step)
			toWeb, _ := step["toWeb"].([]any)
			toMqtt, _ := step["toMqtt"].([]any)
			if len(toWeb) != 2 || len(toMqtt) != 3 {
				t.Fatalf("cross-protocol %s", b)
			}
			if w0 := toWeb[0].(map[string]any); w0["dataType"] != "json" || fmt.Sprint(w0["data"]) != "map[t:21.5]" {
				t.Errorf("MQTT 5 JSON to WebSocket: %v", w0)
			}
			if w1 := toWeb[1].(map[string]any); w1["dataType"] != "binary" || w1["data"] != "cGxhaW4=" {
				t.Errorf("MQTT 3.1.1 to WebSocket: %v, want binary base64 of plain", w1)
			}
			if m := toMqtt[2].(map[string]any); m["data"] != "from web" || m["qos"] != 1.0 || m["contentType"] != "text/plain" {
				t.Errorf("WebSocket to MQTT: %v", m)
			}
		case "error":
			t.Fatalf("MQTT.js scenario: %v", step["message"])
		case "done":
			return
		}
	}
}

// TestMQTTWithExpress: Microsoft's @azure/web-pubsub-express reads the MQTT
// connect, connected and disconnected events, and its res.fail(401) becomes
// the right CONNACK code for each version.
func TestMQTTWithExpress(t *testing.T) {
	nodetest.Require(t)
	peer := startPeer(t, "emulator-mqtt-express.js", "h")
	var hello struct{ Port int }
	peer.line(&hello)
	base := fmt.Sprintf("http://127.0.0.1:%d", hello.Port)
	e := newEnv(t, Config{Hubs: map[string]HubSettings{"h": {AllowAnonymous: true, EventHandlers: []EventHandler{{
		URLTemplate: base + "/eventhandler/{event}", SystemEvents: []string{"connect", "connected", "disconnected"}}}}}})

	c, err := e.pahoV5(t, "h", "", pahoV5Opts{clientID: "exdev", clean: true, username: "sensor", password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if g := groupsOf(e, "exdev"); len(g) != 1 || g[0] != "exg" {
		t.Errorf("groups %v, want express's exg", g)
	}
	c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	if code := e.rawConnack(t, 4, "h", "", "&reject=1"); code != 5 {
		t.Errorf("express fail(401), 3.1.1: CONNACK %d, want 5", code)
	}
	if code := e.rawConnack(t, 5, "h", "", "&reject=1"); code != 0x87 {
		t.Errorf("express fail(401), 5.0: CONNACK %#x, want 0x87", code)
	}

	type rec struct {
		Kind, ConnectionID, UserID, Subprotocol, ClientProtocol string
		MQTT                                                    *struct{ PhysicalConnectionID, SessionID string }
		MQTTProps                                               json.RawMessage `json:"mqttProps"`
	}
	var recs []rec
	eventually(t, "express records", func() bool { return getJSON(base+"/records", &recs) && len(recs) >= 5 })
	first := recs[0]
	if first.Kind != "connect" || first.ConnectionID != "exdev" || first.ClientProtocol != "mqtt" || first.MQTT == nil || first.MQTT.PhysicalConnectionID == "" {
		t.Errorf("express connect context %+v", first)
	}
	var props struct {
		ProtocolVersion int
		Username        string
		Password        string
	}
	json.Unmarshal(first.MQTTProps, &props)
	if props.ProtocolVersion != 5 || props.Username != "sensor" || props.Password != "cHc=" {
		t.Errorf("express read mqtt %s", first.MQTTProps)
	}
	var sawConnected, sawDisconnected bool
	for _, r := range recs {
		switch r.Kind {
		case "connected":
			sawConnected = r.UserID == "ex-sensor" && r.MQTT != nil && r.MQTT.SessionID != ""
		case "disconnected":
			sawDisconnected = r.ConnectionID == "exdev" && bytes.Contains(r.MQTTProps, []byte(`"initiatedByClient":true`))
		}
	}
	if !sawConnected || !sawDisconnected {
		b, _ := json.Marshal(recs)
		t.Errorf("express records %s: want connected (user, session id) and disconnected (by the client)", b)
	}
	_ = context.Background
	_ = time.Second
}

// getJSON decodes the JSON answer of GET url into v (reset first), reporting
// whether it could.
func getJSON[T any](url string, v *[]T) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	*v = nil
	return json.NewDecoder(resp.Body).Decode(v) == nil
}
