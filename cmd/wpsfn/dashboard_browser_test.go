package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/nodetest"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestBrowserDashboard opens the telemetry dashboard of a running `wpsfn
// dev` in headless Chromium (test/browser-dashboard.js) and checks that the
// page shows exactly the readings the simulated device published, as seen
// by an MQTT.js subscriber on the same topic, and those MQTT.js publishes
// itself over MQTT 3.1.1 (base64 binary on the page's JSON connection),
// with no script, style or connection blocked by the page's content
// security policy. The screenshot is docs/screenshots/dashboard.png.
func TestBrowserDashboard(t *testing.T) {
	requireChromium(t)
	var logs syncbuf.Buffer
	st, _ := startDeviceDemo(t, &logs, false)
	client, err := wps.NewClientFromConnectionString(st.ConnectionString, st.Hub, nil)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(user, role string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ca, err := client.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: user, Roles: []string{role}, Protocol: wps.ProtocolMQTT})
		if err != nil {
			t.Fatal(err)
		}
		return ca.URL
	}
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range st.Emulator.Snapshot().Hubs {
			for _, c := range h.Connections {
				if strings.HasPrefix(c.UserID, "dashboard-") && st.Emulator.DropSocket(c.ID) {
					return
				}
			}
		}
		http.Error(w, "no dashboard connection", http.StatusNotFound)
	}))
	defer control.Close()
	out := filepath.Join(nodetest.Dir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw := nodetest.Run(ctx, t, nil, "browser-dashboard.js", st.BaseURL,
		mint("jsobserver", wps.RoleJoinLeaveGroup("telemetry")), mint("jsdevice", wps.RoleSendToGroup("telemetry")), out, control.URL)

	type row struct{ Device, Seq, Temperature, Humidity, Time, As, Text string }
	var res struct {
		About    string
		Observed []struct {
			reading
			QoS         int
			ContentType *string
		}
		Published []reading
		Rows      []row
		Cards     []struct{ Device, Text, Raw, Points string }
		Errors    []string
		Recovered bool
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("browser-dashboard.js output: %v\n%s", err, raw)
	}
	if !strings.Contains(res.About, "sensor1") || !strings.Contains(res.About, "telemetry") {
		t.Errorf("the page introduces itself as %q", res.About)
	}
	sent := map[string]reading{}
	for _, o := range res.Observed {
		if o.QoS != 1 || o.ContentType == nil || *o.ContentType != "application/json" {
			t.Errorf("MQTT.js got reading %d at QoS %d, content type %v", o.Seq, o.QoS, o.ContentType)
		}
		sent["sensor1/"+strconv.FormatUint(o.Seq, 10)] = o.reading
	}
	for _, p := range res.Published {
		sent["jsdevice/"+strconv.FormatUint(p.Seq, 10)] = p
	}
	// Every row the page shows is a reading that was published, value for
	// value; the device's came as json, MQTT.js's 3.1.1 ones as binary.
	shown := map[string]int{}
	for _, r := range res.Rows {
		if r.Seq == "" {
			if r.Device != "jsdevice" || r.Text != "hello from mqtt.js" || r.As != "binary" {
				t.Errorf("the page shows a row %+v", r)
			}
			shown["raw"]++
			continue
		}
		want, ok := sent[r.Device+"/"+r.Seq]
		if !ok {
			t.Errorf("the page shows %+v, which nobody published (published: %d readings)", r, len(sent))
			continue
		}
		shown[r.Device]++
		temp, _ := strconv.ParseFloat(r.Temperature, 64)
		hum, _ := strconv.ParseFloat(r.Humidity, 64)
		at, err := time.Parse(time.RFC3339Nano, r.Time)
		if temp != want.Temperature || hum != want.Humidity || err != nil || !at.Equal(want.Time) {
			t.Errorf("%s #%s shown as %s °C, %s %%, %s; published as %v °C, %v %%, %v", r.Device, r.Seq, r.Temperature, r.Humidity, r.Time, want.Temperature, want.Humidity, want.Time)
		}
		if as := map[string]string{"sensor1": "json", "jsdevice": "binary"}[r.Device]; r.As != as {
			t.Errorf("%s #%s arrived as %s, want %s", r.Device, r.Seq, r.As, as)
		}
	}
	// Across the severed socket: every device reading from the first shown
	// to the last, once each.
	var seqs []int
	for _, r := range res.Rows {
		if r.Device == "sensor1" {
			n, _ := strconv.Atoi(r.Seq)
			seqs = append(seqs, n)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]-1 {
			t.Errorf("the page shows sensor1's readings %v (newest first); want each once, none missing", seqs)
			break
		}
	}
	if !res.Recovered {
		t.Error("the page did not recover its session")
	}
	if shown["sensor1"] < 4 || shown["jsdevice"] != 3 || shown["raw"] != 1 {
		t.Errorf("the page shows %v rows; want at least 4 of sensor1, the 3 readings and the one text of jsdevice", shown)
	}
	cards := map[string]string{}
	for _, c := range res.Cards {
		cards[c.Device] = c.Text + " | " + c.Raw + " | " + c.Points
	}
	if c := cards["jsdevice"]; !strings.HasPrefix(c, "21.5 °Ctemperature53.3 %humidity") || !strings.Contains(c, "hello from mqtt.js") {
		t.Errorf("jsdevice's card shows %q; want its last reading (21.5 °C, 53.3 %%) and its text", c)
	}
	if c := cards["sensor1"]; len(strings.Fields(strings.SplitN(c, " | ", 3)[2])) < 4 {
		t.Errorf("sensor1's card shows %q; want a sparkline of its readings", c)
	}
	if len(res.Errors) > 0 {
		t.Errorf("page errors: %v", res.Errors)
	}
	if fi, err := os.Stat(filepath.Join(out, "dashboard.png")); err != nil || fi.Size() < 1000 {
		t.Errorf("screenshot: %v", err)
	}
	updateScreenshots(t, out, map[string]string{"dashboard.png": "dashboard.png"})
}
