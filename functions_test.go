package wpsfn

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/wpsfn/wpsfn/functions/broadcast"
	"github.com/wpsfn/wpsfn/functions/connect"
	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/functions/negotiate"
	"github.com/wpsfn/wpsfn/functions/relay"
	"github.com/wpsfn/wpsfn/internal/faastest"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

// TestMain doubles as the Google Cloud Functions server: with
// WPSFN_GCP_SERVE=1 the test binary serves this package through
// funcframework (FUNCTION_TARGET picks the function, as the buildpack's
// generated main does) on 127.0.0.1:$PORT.
func TestMain(m *testing.M) {
	if os.Getenv("WPSFN_GCP_SERVE") == "1" {
		if err := funcframework.StartHostPort("127.0.0.1", os.Getenv("PORT")); err != nil {
			fmt.Fprintln(os.Stderr, "funcframework:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	faastest.Cleanup()
	os.Exit(code)
}

const (
	testAccessKey       = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="
	testBroadcastSecret = "broadcast-secret-0123456789"
)

// serveGCP runs target in a funcframework server (this test binary) with env.
func serveGCP(t *testing.T, target string, env ...string) string {
	t.Helper()
	port := faastest.FreePort(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	faastest.Start(t, append(env, "WPSFN_GCP_SERVE=1", "FUNCTION_TARGET="+target, "PORT="+port), exe)
	base := "http://127.0.0.1:" + port
	if err := faastest.WaitHTTP(t.Context(), base+"/robots.txt", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return base
}

func gcpEnv(rec *faastest.Recorder) []string {
	return []string{
		"WEBPUBSUB_CONNECTION_STRING=Endpoint=" + rec.URL + ";AccessKey=" + testAccessKey + ";Version=1.0;",
		"WEBPUBSUB_HUB=chat",
		"BROADCAST_SECRET=" + testBroadcastSecret,
		"NEGOTIATE_JWT_SECRET=negotiate-jwt-secret-0123456789",
		"NEGOTIATE_ALLOW_QUERY_USER=true",
	}
}

func post(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func oneCall(t *testing.T, rec *faastest.Recorder, path string) map[string]any {
	t.Helper()
	got := rec.WaitN(t, 1, 5*time.Second)
	if len(got) != 1 || got[0].Method != "POST" || got[0].Path != path {
		t.Fatalf("REST calls %+v, want one POST %s", got, path)
	}
	var m map[string]any
	if err := json.Unmarshal(got[0].Body, &m); err != nil {
		t.Fatalf("REST body %q: %v", got[0].Body, err)
	}
	return m
}

func TestGCPFunctions(t *testing.T) {
	t.Parallel()
	t.Run("Connect", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		base := serveGCP(t, "Connect", gcpEnv(rec)...)
		req, err := (&upstream.Caller{Keys: cloudevents.NewKeys(testAccessKey)}).NewRequest(t.Context(), base+"/", &cloudevents.ConnectedRequest{
			ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c-9", UserID: "dave"}})
		if err != nil {
			t.Fatal(err)
		}
		if code, b := post(t, req); code/100 != 2 {
			t.Fatalf("connected: %d %s", code, b)
		}
		if m := oneCall(t, rec, "/api/hubs/chat/connections/c-9/:send"); m["text"] != "welcome dave" {
			t.Errorf("greeting %v", m)
		}
	})
	t.Run("Message", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		base := serveGCP(t, "Message", gcpEnv(rec)...)
		req, err := (&upstream.Caller{Keys: cloudevents.NewKeys(testAccessKey)}).NewRequest(t.Context(), base+"/", &cloudevents.UserEventRequest{
			ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "c-1", UserID: "erin", EventName: "message"},
			Data:              []byte(`{"room":"r2","text":"hi"}`), DataType: cloudevents.DataJSON})
		if err != nil {
			t.Fatal(err)
		}
		code, b := post(t, req)
		if code != 200 || !bytes.Contains(b, []byte(`"ok":true`)) {
			t.Fatalf("ack: %d %s", code, b)
		}
		if m := oneCall(t, rec, "/api/hubs/chat/groups/r2/:send"); m["from"] != "erin" || m["text"] != "hi" {
			t.Errorf("published %v", m)
		}
	})
	t.Run("Broadcast", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		base := serveGCP(t, "Broadcast", gcpEnv(rec)...)
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader(`{"to":"all","json":{"n":1}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testBroadcastSecret)
		if code, b := post(t, req); code/100 != 2 {
			t.Fatalf("broadcast: %d %s", code, b)
		}
		if m := oneCall(t, rec, "/api/hubs/chat/:send"); m["n"] != float64(1) {
			t.Errorf("sent %v", m)
		}
	})
	t.Run("Negotiate", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		base := serveGCP(t, "Negotiate", gcpEnv(rec)...)
		req, _ := http.NewRequest("GET", base+"/?userId=frank", nil)
		code, b := post(t, req)
		var r struct{ URL, Token string }
		if json.Unmarshal(b, &r) != nil || code != 200 || !strings.Contains(r.URL, "/client/hubs/chat") || r.Token == "" {
			t.Fatalf("negotiate: %d %s", code, b)
		}
	})
	t.Run("BroadcastSchedule", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		base := serveGCP(t, "BroadcastSchedule", gcpEnv(rec)...)
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader(`{"task":"broadcast"}`))
		if code, b := post(t, req); code != 204 {
			t.Fatalf("Cloud Scheduler POST: %d %s", code, b)
		}
		if m := oneCall(t, rec, "/api/hubs/chat/:send"); m["type"] != "heartbeat" {
			t.Errorf("sent %v", m)
		}
		req, _ = http.NewRequest("GET", base+"/", nil)
		if code, _ := post(t, req); code != 405 {
			t.Errorf("GET = %d", code)
		}
	})
	t.Run("BroadcastScheduleEvent", func(t *testing.T) {
		t.Parallel()
		rec := faastest.NewRecorder(t, 0)
		base := serveGCP(t, "BroadcastScheduleEvent", gcpEnv(rec)...)
		// A Pub/Sub push as Eventarc delivers it: a binary-mode CloudEvent.
		body := `{"message":{"data":"e30=","attributes":{},"messageId":"1","publishTime":"2026-11-27T05:00:00.123Z"},"subscription":"projects/p/subscriptions/s"}`
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Type", "google.cloud.pubsub.topic.v1.messagePublished")
		req.Header.Set("Ce-Source", "//pubsub.googleapis.com/projects/p/topics/wpsfn-broadcast-schedule")
		req.Header.Set("Ce-Id", "1")
		req.Header.Set("Ce-Time", "2026-11-27T05:00:00.2Z")
		if code, b := post(t, req); code/100 != 2 {
			t.Fatalf("pubsub event: %d %s", code, b)
		}
		m := oneCall(t, rec, "/api/hubs/chat/:send")
		if m["type"] != "heartbeat" || !strings.HasPrefix(fmt.Sprint(m["time"]), "2026-11-27T05:00:00.123") {
			t.Errorf("sent %v", m)
		}
	})
	t.Run("Relay", func(t *testing.T) {
		t.Parallel()
		// A Pub/Sub message as Eventarc pushes it, in binary mode.
		pubsub := func(base, id, envelope string) *http.Request {
			data, _ := json.Marshal(map[string]any{"message": map[string]any{"data": []byte(envelope), "messageId": id,
				"publishTime": "2026-12-01T21:00:00Z", "attributes": map[string]string{"room": "lobby"}}, "subscription": "projects/p/subscriptions/s"})
			req, _ := http.NewRequest("POST", base+"/", bytes.NewReader(data))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Type", "google.cloud.pubsub.topic.v1.messagePublished")
			req.Header.Set("Ce-Source", "//pubsub.googleapis.com/projects/p/topics/wpsfn-relay")
			req.Header.Set("Ce-Id", id)
			return req
		}
		t.Run("sent once", func(t *testing.T) {
			t.Parallel()
			rec := faastest.NewRecorder(t, 0)
			base := serveGCP(t, "Relay", append(gcpEnv(rec), "RELAY_ID_FIELD=eventId")...)
			for range 2 { // the second is a redelivery: acknowledged, not sent
				if code, b := post(t, pubsub(base, "ps-1", `{"to":"group","id":"lobby","json":{"order":42}}`)); code/100 != 2 {
					t.Fatalf("pubsub event: %d %s", code, b)
				}
			}
			m := oneCall(t, rec, "/api/hubs/chat/groups/lobby/:send")
			if m["order"] != float64(42) || m["eventId"] != "ps-1" {
				t.Errorf("sent %v", m)
			}
			// A bad envelope is permanent: acknowledged (2xx), nothing sent.
			if code, b := post(t, pubsub(base, "ps-2", `{"to":"nobody"}`)); code/100 != 2 {
				t.Fatalf("bad envelope: %d %s", code, b)
			}
			if n := len(rec.Requests()); n != 1 {
				t.Errorf("%d REST calls, want 1", n)
			}
		})
		t.Run("Eventarc event in structured mode", func(t *testing.T) {
			t.Parallel()
			rec := faastest.NewRecorder(t, 0)
			base := serveGCP(t, "Relay", gcpEnv(rec)...)
			ev := `{"specversion":"1.0","type":"com.example.orders.shipped","source":"//example.com/orders","id":"ev-9",
				"subject":"orders/42","datacontenttype":"application/json","data":{"to":"group","id":"orders","text":"order 42 shipped"}}`
			req, _ := http.NewRequest("POST", base+"/", strings.NewReader(ev))
			req.Header.Set("Content-Type", "application/cloudevents+json")
			if code, b := post(t, req); code/100 != 2 {
				t.Fatalf("structured CloudEvent: %d %s", code, b)
			}
			got := rec.WaitN(t, 1, 5*time.Second)
			if len(got) != 1 || got[0].Path != "/api/hubs/chat/groups/orders/:send" || string(got[0].Body) != "order 42 shipped" {
				t.Errorf("REST calls %+v, want the event's envelope sent", got)
			}
		})
		t.Run("transient failure answers 500", func(t *testing.T) {
			t.Parallel()
			rec := faastest.NewRecorder(t, http.StatusServiceUnavailable)
			base := serveGCP(t, "Relay", append(gcpEnv(rec), "RELAY_SEND_RETRIES=-1")...)
			for range 2 { // a redelivery after a transient failure is sent again
				if code, b := post(t, pubsub(base, "ps-3", `{"to":"all","text":"x"}`)); code != 500 {
					t.Fatalf("transient failure: %d %s, want 500 (Pub/Sub redelivers with --retry)", code, b)
				}
			}
			if got := rec.Requests(); len(got) != 2 || got[0].Path != "/api/hubs/chat/:send" || string(got[1].Body) != "x" {
				t.Errorf("REST calls %+v, want two sends", got)
			}
		})
	})
	t.Run("lazy configuration", func(t *testing.T) {
		t.Parallel()
		// No WEBPUBSUB_* at all: the package still starts (init never fails a
		// deploy), and the call answers 500 without detail.
		base := serveGCP(t, "Message")
		req, _ := http.NewRequest("POST", base+"/", strings.NewReader("{}"))
		code, b := post(t, req)
		if code != 500 || !strings.Contains(string(b), "function not configured") {
			t.Errorf("%d %s", code, b)
		}
	})
}

// ---- manifests -------------------------------------------------------------

// configs maps each function to its configuration struct and the variables
// a deployment must set beyond the `required` tags (functions refuse to
// start without one of their alternatives; the deploy files pick this one).
var configs = map[string]struct {
	cfg   any
	extra []string
}{
	"connect":            {connect.Config{}, nil},
	"message":            {message.Config{}, nil},
	"broadcast":          {broadcast.Config{}, []string{"BROADCAST_SECRET"}},
	"broadcast-schedule": {broadcast.ScheduleConfig{}, nil},
	"negotiate":          {negotiate.Config{}, []string{"NEGOTIATE_JWT_SECRET"}},
	"relay":              {relay.Config{}, nil},
}

// azureApps maps each function to its folders under azure-functions/: its
// own name, or one per trigger.
func azureApps(fn string) []string {
	if fn == "relay" {
		return []string{"relay-eventgrid", "relay-queue", "relay-servicebus"}
	}
	return []string{fn}
}

// envVars returns the variables cfg reads and those that are required.
func envVars(cfg any, extra []string) (known, required []string) {
	rt := reflect.TypeOf(cfg)
	for i := range rt.NumField() {
		tag := rt.Field(i).Tag.Get("env")
		if tag == "" || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		known = append(known, name)
		if slices.Contains(strings.Split(opts, ","), "required") {
			required = append(required, name)
		}
	}
	return known, append(required, extra...)
}

func checkEnv(t *testing.T, where, fn string, got []string) {
	t.Helper()
	known, required := envVars(configs[fn].cfg, configs[fn].extra)
	for _, r := range required {
		if !slices.Contains(got, r) {
			t.Errorf("%s: %s does not set %s", where, fn, r)
		}
	}
	for _, g := range got {
		if !slices.Contains(known, g) {
			t.Errorf("%s: %s sets %s, which its configuration does not read", where, fn, g)
		}
	}
}

// cmdFunctions lists cmd/<fn> (every main but the CLI).
func cmdFunctions(t *testing.T) []string {
	ents, err := os.ReadDir("cmd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "wpsfn" {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestManifestFunctionsEverywhere(t *testing.T) {
	fns := cmdFunctions(t)
	if len(fns) != len(configs) {
		t.Errorf("cmd/ has %v; the manifests know %d functions", fns, len(configs))
	}
	var gcp []string
	for _, e := range gcpEntries {
		if !slices.Contains(gcp, e.Name) {
			gcp = append(gcp, e.Name)
		}
	}
	sort.Strings(gcp)
	if !slices.Equal(gcp, fns) {
		t.Errorf("GCP registrations %v, cmd/ %v", gcp, fns)
	}
	var az []string
	ents, _ := os.ReadDir("azure-functions")
	for _, e := range ents {
		if e.IsDir() {
			az = append(az, e.Name())
		}
	}
	var wantAz []string
	for _, fn := range fns {
		wantAz = append(wantAz, azureApps(fn)...)
	}
	sort.Strings(wantAz)
	if !slices.Equal(az, wantAz) {
		t.Errorf("azure-functions/ %v, want %v", az, wantAz)
	}
	mk, _ := os.ReadFile("Makefile")
	for _, fn := range fns {
		if !regexpWord(string(mk), "FUNCTIONS := ", fn) {
			t.Errorf("Makefile FUNCTIONS lacks %s", fn)
		}
		if _, err := os.Stat(filepath.Join("cmd", fn, "main.go")); err != nil {
			t.Errorf("cmd/%s/main.go: %v", fn, err)
		}
	}
}

func regexpWord(text, linePrefix, word string) bool {
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(strings.Join(strings.Fields(l), " "), strings.TrimSpace(linePrefix)); ok {
			return slices.Contains(strings.Fields(rest), word)
		}
	}
	return false
}

func TestManifestAzure(t *testing.T) {
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
		ExtensionBundle struct{ ID, Version string } `json:"extensionBundle"`
		Extensions      struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	readJSON(t, "azure-functions/host.json", &host)
	if host.CustomHandler.Description.DefaultExecutablePath != "handler" || !host.CustomHandler.EnableForwardingHTTPRequest ||
		host.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || host.Extensions.HTTP.RoutePrefix == nil || *host.Extensions.HTTP.RoutePrefix != "api" {
		t.Errorf("host.json %+v", host)
	}
	relayTriggers := map[string]string{"relay-queue": "queueTrigger", "relay-servicebus": "serviceBusTrigger", "relay-eventgrid": "eventGridTrigger"}
	for app, trigger := range relayTriggers {
		var f struct {
			Bindings []struct{ Type, Direction, Name, Cardinality string }
		}
		readJSON(t, filepath.Join("azure-functions", app, "function.json"), &f)
		// One message per invocation: the handler answers for that message alone.
		if len(f.Bindings) != 1 || f.Bindings[0].Type != trigger || f.Bindings[0].Direction != "in" || f.Bindings[0].Cardinality == "many" {
			t.Errorf("%s: %+v", app, f)
		}
	}
	for _, fn := range cmdFunctions(t) {
		if fn == "relay" {
			continue
		}
		var f struct {
			Bindings []struct {
				Type, Direction, Name, AuthLevel, Route, Schedule string
				Methods                                           []string
			}
		}
		readJSON(t, filepath.Join("azure-functions", fn, "function.json"), &f)
		if fn == "broadcast-schedule" {
			if len(f.Bindings) != 1 || f.Bindings[0].Type != "timerTrigger" || f.Bindings[0].Schedule != "%BROADCAST_SCHEDULE%" {
				t.Errorf("%s: %+v", fn, f)
			}
			continue
		}
		// HTTP in + HTTP out only, so the host forwards the request as is.
		if len(f.Bindings) != 2 || f.Bindings[0].Type != "httpTrigger" || f.Bindings[1].Type != "http" || f.Bindings[1].Direction != "out" {
			t.Fatalf("%s: %+v", fn, f)
		}
		in := f.Bindings[0]
		wantLevel := "anonymous"
		if fn == "broadcast" {
			wantLevel = "function" // callers send a function key; the Web PubSub upstream needs anonymous
		}
		if in.Route != fn || in.AuthLevel != wantLevel || !slices.Contains(in.Methods, "options") || !slices.Contains(in.Methods, "post") || !slices.Contains(in.Methods, "get") {
			t.Errorf("%s: %+v", fn, in)
		}
	}
	var settings struct{ Values map[string]string }
	readJSON(t, "azure-functions/local.settings.example.json", &settings)
	var keys []string
	for k := range settings.Values {
		keys = append(keys, k)
	}
	if settings.Values["BROADCAST_SCHEDULE"] == "" || len(strings.Fields(settings.Values["BROADCAST_SCHEDULE"])) != 6 {
		t.Errorf("BROADCAST_SCHEDULE must be a 6-field NCRONTAB: %q", settings.Values["BROADCAST_SCHEDULE"])
	}
	for _, fn := range cmdFunctions(t) {
		_, required := envVars(configs[fn].cfg, configs[fn].extra)
		for _, r := range required {
			if !slices.Contains(keys, r) {
				t.Errorf("local.settings.example.json lacks %s (needed by %s)", r, fn)
			}
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestManifestSAM(t *testing.T) {
	f, err := os.Open("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := parseBlockYAML(f)
	if err != nil {
		t.Fatal(err)
	}
	glob := get(doc, "Globals", "Function")
	if get(glob, "Runtime") != "provided.al2023" || !slices.Equal(list(get(glob, "Architectures")), []string{"arm64"}) {
		t.Errorf("Globals.Function %v", glob)
	}
	res, _ := get(doc, "Resources").(map[string]any)
	outputs, _ := get(doc, "Outputs").(map[string]any)
	seen := map[string]bool{}
	for logical, r := range res {
		if get(r, "Type") != "AWS::Serverless::Function" {
			continue
		}
		p := get(r, "Properties")
		fn := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprint(get(p, "CodeUri")), "dist/lambda/arm64/"), ".zip")
		seen[fn] = true
		if _, ok := configs[fn]; !ok {
			t.Errorf("%s: CodeUri %v is not a function's package-lambda zip", logical, get(p, "CodeUri"))
			continue
		}
		if get(p, "Handler") != "bootstrap" || !strings.HasSuffix(fmt.Sprint(get(p, "FunctionName")), "-"+fn+"'") {
			t.Errorf("%s: Handler %v FunctionName %v", logical, get(p, "Handler"), get(p, "FunctionName"))
		}
		vars, _ := get(p, "Environment", "Variables").(map[string]any)
		var names []string
		for k, v := range vars {
			names = append(names, k)
			if k == "WEBPUBSUB_CONNECTION_STRING" && !strings.Contains(fmt.Sprint(v), "{{resolve:secretsmanager:") {
				t.Errorf("%s: the connection string must come from Secrets Manager: %v", logical, v)
			}
		}
		checkEnv(t, "template.yaml", fn, names)
		if fn == "relay" {
			q := get(p, "Events", "Queue", "Properties")
			if get(p, "Events", "Queue", "Type") != "SQS" || !slices.Equal(list(get(q, "FunctionResponseTypes")), []string{"ReportBatchItemFailures"}) ||
				get(p, "FunctionUrlConfig") != nil || get(res, "RelayQueue", "Properties", "RedrivePolicy", "deadLetterTargetArn") != "!GetAtt RelayDeadLetterQueue.Arn" {
				t.Errorf("%s: want an SQS event reporting batch item failures from a queue with a DLQ, no URL: %v", logical, p)
			}
			// SNS and EventBridge invoke it asynchronously: failed events go to the same DLQ.
			if get(p, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination") != "!GetAtt RelayDeadLetterQueue.Arn" {
				t.Errorf("%s: async invocations (SNS, EventBridge) need an on-failure destination: %v", logical, get(p, "EventInvokeConfig"))
			}
			sub, rule := get(res, "RelayTopicSubscription"), get(res, "RelayEventRule")
			if get(sub, "Type") != "AWS::SNS::Subscription" || get(sub, "Condition") != "RelayFromSNS" ||
				get(sub, "Properties", "Protocol") != "lambda" || get(sub, "Properties", "Endpoint") != "!GetAtt "+logical+".Arn" ||
				get(res, "RelayTopicPermission", "Properties", "Principal") != "sns.amazonaws.com" {
				t.Errorf("want an optional SNS subscription invoking %s, with its permission: %v", logical, sub)
			}
			if get(rule, "Type") != "AWS::Events::Rule" || get(rule, "Condition") != "RelayFromEventBridge" ||
				get(res, "RelayEventPermission", "Properties", "Principal") != "events.amazonaws.com" {
				t.Errorf("want an optional EventBridge rule targeting %s, with its permission: %v", logical, rule)
			}
			continue
		}
		if fn == "broadcast-schedule" {
			if get(p, "Events", "Tick", "Type") != "ScheduleV2" || get(p, "FunctionUrlConfig") != nil {
				t.Errorf("%s: want a ScheduleV2 event and no URL: %v", logical, p)
			}
			continue
		}
		wantAuth := "NONE"
		if fn == "broadcast" {
			wantAuth = "!Ref BroadcastUrlAuthType" // NONE or AWS_IAM, a parameter
		}
		if get(p, "FunctionUrlConfig", "AuthType") != wantAuth || get(p, "FunctionUrlConfig", "InvokeMode") != "RESPONSE_STREAM" {
			t.Errorf("%s: FunctionUrlConfig %v", logical, get(p, "FunctionUrlConfig"))
		}
		found := false
		for _, o := range outputs {
			if get(o, "Value") == "!GetAtt "+logical+"Url.FunctionUrl" {
				found = true
			}
		}
		if !found {
			t.Errorf("no output with %s's URL", logical)
		}
	}
	for _, fn := range cmdFunctions(t) {
		if !seen[fn] {
			t.Errorf("template.yaml has no function for cmd/%s", fn)
		}
	}
}

func TestManifestGCP(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Print mode only (GCP_RUN unset): nothing is deployed.
	cmd := exec.CommandContext(ctx, "make", "-s", "deploy-gcp", "GCP_RUN=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make deploy-gcp: %v", err)
	}
	entries := map[string]string{}
	for _, e := range gcpEntries {
		entries[e.EntryPoint] = e.Name
	}
	deployed := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "gcloud functions deploy ") {
			continue
		}
		flags := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				flags[k] = v
			}
		}
		entry := flags["--entry-point"]
		fn, ok := entries[entry]
		if !ok {
			t.Errorf("deploy of unregistered entry point %q", entry)
			continue
		}
		deployed[fn] = true
		if flags["--runtime"] != "go125" || flags["--source"] != "." || !strings.Contains(line, " --gen2 ") {
			t.Errorf("%s: %s", fn, line)
		}
		var names []string
		for _, kv := range append(strings.Split(flags["--set-env-vars"], ","), strings.Split(flags["--set-secrets"], ",")...) {
			if k, _, ok := strings.Cut(kv, "="); ok {
				names = append(names, k)
			}
		}
		checkEnv(t, "deploy-gcp", fn, names)
	}
	for _, fn := range cmdFunctions(t) {
		if !deployed[fn] {
			t.Errorf("deploy-gcp does not deploy %s", fn)
		}
	}
}

// parseBlockYAML reads the block-style subset of YAML template.yaml keeps
// to: nested mappings by indentation, sequences of scalars ("- x"),
// scalars kept as written (quotes and tags like !Ref included), comments.
func parseBlockYAML(r io.Reader) (map[string]any, error) {
	type frame struct {
		indent int
		m      map[string]any
	}
	root := map[string]any{}
	stack := []frame{{-1, root}}
	var lastKey string
	var lastMap map[string]any
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if item, ok := strings.CutPrefix(trimmed, "- "); ok {
			if lastMap == nil {
				return nil, fmt.Errorf("line %d: sequence item without a key", n)
			}
			l, _ := lastMap[lastKey].([]string)
			lastMap[lastKey] = append(l, strings.TrimSpace(item))
			continue
		}
		for len(stack) > 1 && indent <= stack[len(stack)-1].indent {
			stack = stack[:len(stack)-1]
		}
		key, val, ok := strings.Cut(trimmed, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: no key: %q", n, trimmed)
		}
		parent := stack[len(stack)-1].m
		val = strings.TrimSpace(val)
		if val == "" {
			child := map[string]any{}
			parent[key] = child
			stack = append(stack, frame{indent, child})
			lastKey, lastMap = key, parent
			continue
		}
		if strings.HasPrefix(val, "{") && !strings.HasPrefix(val, "{{") {
			return nil, fmt.Errorf("line %d: flow mappings are not supported; use block style", n)
		}
		parent[key] = val
		lastMap = nil
	}
	return root, sc.Err()
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return v
	}
	return v
}

func list(v any) []string {
	l, _ := v.([]string)
	return l
}

// TestPackageTargets runs `make package-lambda` and `make package-azure` for
// one function into a temporary folder and checks the zips' layout and modes.
func TestPackageTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cross-compiled binaries")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	t.Parallel()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-s", "package-lambda", "package-azure",
		"FUNCTIONS=broadcast-schedule", "LAMBDA_ARCHES=arm64", "DIST="+tmp+"/dist", "BIN="+tmp+"/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	check := func(path string, want map[string]os.FileMode) {
		t.Helper()
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		got := map[string]os.FileMode{}
		for _, f := range zr.File {
			got[f.Name] = f.Mode().Perm()
			if f.Name == "bootstrap" || f.Name == "handler" {
				rc, _ := f.Open()
				head := make([]byte, 20)
				io.ReadFull(rc, head)
				rc.Close()
				// ELF, 64-bit; e_machine 0xB7 = AArch64, 0x3E = x86-64.
				if string(head[:4]) != "\x7fELF" {
					t.Errorf("%s: %s is not an ELF binary", path, f.Name)
				}
				arch := map[string]byte{"bootstrap": 0xB7, "handler": 0x3E}[f.Name]
				if head[18] != arch {
					t.Errorf("%s: %s machine %#x, want %#x", path, f.Name, head[18], arch)
				}
				if f.UncompressedSize64 >= 12<<20 {
					t.Errorf("%s: %s is %d bytes, goal < 12 MB", path, f.Name, f.UncompressedSize64)
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: entries %v, want %v", path, got, want)
		}
	}
	check(filepath.Join(tmp, "dist/lambda/arm64/broadcast-schedule.zip"), map[string]os.FileMode{"bootstrap": 0o755})
	check(filepath.Join(tmp, "dist/azure/broadcast-schedule.zip"), map[string]os.FileMode{
		"host.json": 0o644, "broadcast-schedule/function.json": 0o644, "handler": 0o755})
}
