package wps

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"
	"github.com/wpsfn/wpsfn/internal/httprec"
	"github.com/wpsfn/wpsfn/internal/nodetest"
)

// sbsCase is one call made by both @azure/web-pubsub (test/wps-sidebyside.js)
// and pkg/wps.
type sbsCase struct {
	Name   string   `json:"name"`
	Op     string   `json:"op"`
	ID     string   `json:"id,omitempty"`
	Group  string   `json:"group,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Msg    *sbsMsg  `json:"msg,omitempty"`
	Opts   sbsOpts  `json:"opts"`
	Token  bool     `json:"token,omitempty"` // use the TokenCredential client
	Proxy  bool     `json:"proxy,omitempty"` // use the client behind a reverse proxy
}

type sbsMsg struct {
	Kind string         `json:"kind"`
	Text string         `json:"text,omitempty"`
	JSON map[string]any `json:"json,omitempty"`
	B64  string         `json:"b64,omitempty"`
}

type sbsOpts struct {
	Excluded    []string `json:"excluded,omitempty"`
	Filter      string   `json:"filter,omitempty"`
	TTL         int      `json:"ttl,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Perm        string   `json:"perm,omitempty"`
	TargetName  string   `json:"targetName,omitempty"`
	MaxPageSize int      `json:"maxPageSize,omitempty"`
	Top         int      `json:"top,omitempty"`
	UserID      string   `json:"userId,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Minutes     int      `json:"minutes,omitempty"`
	Protocol    string   `json:"protocol,omitempty"`
}

// trickyIDs are user and connection ids (and, reused, group names) whose
// escaping in paths, queries, bodies, filters and tokens is easy to get wrong.
var trickyIDs = []string{
	"plain", "conn 1", "a/b", "100%", "100%25", "what?x=1", "hash#tag", "ünïcødé 用户", "emoji 😀",
	"o'brien", "it''s", "semi;colon&amp=eq+plus", "(paren)*!~-_.", "tab\tnew\nline",
	`back\slash"quote`, ".hidden", "a..b", "<b>&amp;</b>", "[br]{ace}|pipe^`tick`", "  spaced  ", "user@example.com", "$dollar,comma:colon",
}

func sideBySideCases() []sbsCase {
	var cs []sbsCase
	add := func(c sbsCase) {
		c.Name = fmt.Sprintf("%03d %s", len(cs), c.Op)
		cs = append(cs, c)
	}
	for i, id := range trickyIDs {
		g := trickyIDs[(i+3)%len(trickyIDs)]
		add(sbsCase{Op: "sendToUser", ID: id, Msg: &sbsMsg{Kind: "text", Text: id}, Opts: sbsOpts{Filter: fmt.Sprintf("userId ne '%s'", strings.ReplaceAll(g, "'", "''")), TTL: 5}})
		add(sbsCase{Op: "sendToConnection", ID: id, Msg: &sbsMsg{Kind: "json", JSON: map[string]any{"id": id}}})
		add(sbsCase{Op: "sendToGroup", Group: g, Msg: &sbsMsg{Kind: "binary", B64: base64.StdEncoding.EncodeToString([]byte(id))}, Opts: sbsOpts{Excluded: []string{id, "x y"}}})
		add(sbsCase{Op: "sendToAll", Msg: &sbsMsg{Kind: "text", Text: g}, Opts: sbsOpts{Excluded: []string{id}, Filter: "'" + strings.ReplaceAll(g, "'", "''") + "' in groups"}})
		add(sbsCase{Op: "closeConnection", ID: id, Opts: sbsOpts{Reason: g}})
		add(sbsCase{Op: "closeUserConnections", ID: id, Opts: sbsOpts{Reason: id}})
		add(sbsCase{Op: "closeGroupConnections", Group: g, Opts: sbsOpts{Excluded: []string{id}, Reason: "bye " + id}})
		add(sbsCase{Op: "connectionExists", ID: id})
		add(sbsCase{Op: "userExists", ID: id})
		add(sbsCase{Op: "groupExists", Group: g})
		add(sbsCase{Op: "addUserToGroup", ID: id, Group: g})
		add(sbsCase{Op: "removeUserFromGroup", ID: id, Group: g})
		add(sbsCase{Op: "addConnectionToGroup", ID: id, Group: g})
		add(sbsCase{Op: "removeConnectionFromGroup", ID: id, Group: g})
		add(sbsCase{Op: "removeUserFromAllGroups", ID: id})
		add(sbsCase{Op: "removeConnectionFromAllGroups", ID: id})
		add(sbsCase{Op: "grantPermission", ID: id, Opts: sbsOpts{Perm: "sendToGroup", TargetName: g}})
		add(sbsCase{Op: "revokePermission", ID: id, Opts: sbsOpts{Perm: "joinLeaveGroup", TargetName: g}})
		add(sbsCase{Op: "checkPermission", ID: id, Opts: sbsOpts{Perm: "joinLeaveGroup", TargetName: id}})
		add(sbsCase{Op: "addConnectionsToGroups", Groups: []string{id, g}, Opts: sbsOpts{Filter: "userId eq '" + strings.ReplaceAll(id, "'", "''") + "'"}})
		add(sbsCase{Op: "removeConnectionsFromGroups", Groups: []string{g}, Opts: sbsOpts{Filter: "connectionId ne '" + strings.ReplaceAll(g, "'", "''") + "'"}})
		add(sbsCase{Op: "listConnections", Group: g, Opts: sbsOpts{MaxPageSize: 7, Top: 9}})
		add(sbsCase{Op: "clientAccess", Opts: sbsOpts{UserID: id, Roles: []string{RoleSendToGroup(g), RoleJoinLeaveGroupAny}, Groups: []string{g, id}, Minutes: 7}})
		add(sbsCase{Op: "clientAccess", Token: true, Opts: sbsOpts{UserID: id, Roles: []string{RoleJoinLeaveGroup(g)}, Groups: []string{id}, Minutes: 3, Protocol: []string{"", "mqtt", "socketio"}[i%3]}})
		add(sbsCase{Op: "sendToAll", Token: true, Msg: &sbsMsg{Kind: "json", JSON: map[string]any{"g": g}}})
		add(sbsCase{Op: "odataUserIs", ID: id})
		add(sbsCase{Op: "odataUserIsNot", ID: id})
		add(sbsCase{Op: "odataInGroup", Group: g})
	}
	add(sbsCase{Op: "sendToAll", Msg: &sbsMsg{Kind: "json", JSON: map[string]any{"html": "<b>&</b> ünï 😀 \"q\" \\ \t"}}})
	add(sbsCase{Op: "closeAllConnections", Opts: sbsOpts{Excluded: []string{"a", "b c"}, Reason: "maintenance & more"}})
	add(sbsCase{Op: "clientAccess", Opts: sbsOpts{Protocol: "mqtt"}})
	add(sbsCase{Op: "clientAccess", Token: true})
	add(sbsCase{Op: "listConnections", Group: "g"})
	add(sbsCase{Op: "sendToGroup", Proxy: true, Group: "room 1", Msg: &sbsMsg{Kind: "text", Text: "via proxy"}, Opts: sbsOpts{Filter: "userId eq 'a'"}})
	add(sbsCase{Op: "addUserToGroup", Proxy: true, ID: "a/b", Group: "g"})
	add(sbsCase{Op: "userExists", Proxy: true, ID: "o'brien"})
	add(sbsCase{Op: "clientAccess", Proxy: true, Opts: sbsOpts{UserID: "p"}})
	return cs
}

// runGoCase makes c's call through pkg/wps; the key-signed client access
// token, if any, is returned.
func runGoCase(ctx context.Context, key, tok, proxied *Client, c sbsCase) (*ClientAccess, string, error) {
	cl := key
	if c.Token {
		cl = tok
	} else if c.Proxy {
		cl = proxied
	}
	o := c.Opts
	var msg Message
	if c.Msg != nil {
		switch c.Msg.Kind {
		case "text":
			msg = Text(c.Msg.Text)
		case "json":
			msg = JSON(c.Msg.JSON)
		case "binary":
			b, _ := base64.StdEncoding.DecodeString(c.Msg.B64)
			msg = Binary(b)
		}
	}
	so := &SendOptions{Excluded: o.Excluded, Filter: RawFilter(o.Filter), MessageTTL: time.Duration(o.TTL) * time.Second}
	co := &CloseOptions{Excluded: o.Excluded, Reason: o.Reason}
	po := &PermissionOptions{TargetName: o.TargetName}
	var err error
	switch c.Op {
	case "sendToAll":
		err = cl.SendToAll(ctx, msg, so)
	case "sendToUser":
		err = cl.SendToUser(ctx, c.ID, msg, so)
	case "sendToConnection":
		err = cl.SendToConnection(ctx, c.ID, msg, so)
	case "sendToGroup":
		err = cl.SendToGroup(ctx, c.Group, msg, so)
	case "closeConnection":
		err = cl.CloseConnection(ctx, c.ID, &CloseConnectionOptions{Reason: o.Reason})
	case "closeAllConnections":
		err = cl.CloseAllConnections(ctx, co)
	case "closeUserConnections":
		err = cl.CloseUserConnections(ctx, c.ID, co)
	case "closeGroupConnections":
		err = cl.CloseGroupConnections(ctx, c.Group, co)
	case "connectionExists":
		_, err = cl.ConnectionExists(ctx, c.ID)
	case "userExists":
		_, err = cl.UserExists(ctx, c.ID)
	case "groupExists":
		_, err = cl.GroupExists(ctx, c.Group)
	case "addUserToGroup":
		err = cl.AddUserToGroup(ctx, c.Group, c.ID)
	case "removeUserFromGroup":
		err = cl.RemoveUserFromGroup(ctx, c.Group, c.ID)
	case "addConnectionToGroup":
		err = cl.AddConnectionToGroup(ctx, c.Group, c.ID)
	case "removeConnectionFromGroup":
		err = cl.RemoveConnectionFromGroup(ctx, c.Group, c.ID)
	case "removeUserFromAllGroups":
		err = cl.RemoveUserFromAllGroups(ctx, c.ID)
	case "removeConnectionFromAllGroups":
		err = cl.RemoveConnectionFromAllGroups(ctx, c.ID)
	case "addConnectionsToGroups":
		err = cl.AddConnectionsToGroups(ctx, c.Groups, RawFilter(o.Filter))
	case "removeConnectionsFromGroups":
		err = cl.RemoveConnectionsFromGroups(ctx, c.Groups, RawFilter(o.Filter))
	case "grantPermission":
		err = cl.GrantPermission(ctx, c.ID, Permission(o.Perm), po)
	case "revokePermission":
		err = cl.RevokePermission(ctx, c.ID, Permission(o.Perm), po)
	case "checkPermission":
		_, err = cl.CheckPermission(ctx, c.ID, Permission(o.Perm), po)
	case "listConnections":
		for _, e := range cl.ListConnectionsInGroup(ctx, c.Group, &ListOptions{MaxPageSize: o.MaxPageSize, Top: o.Top}) {
			if e != nil {
				err = e
			}
		}
	case "clientAccess":
		proto := map[string]ClientProtocol{"": ProtocolDefault, "default": ProtocolDefault, "mqtt": ProtocolMQTT, "socketio": ProtocolSocketIO}[o.Protocol]
		var expiry time.Duration
		if o.Minutes > 0 {
			expiry = time.Duration(o.Minutes) * time.Minute
		}
		ca, err := cl.ClientAccessURL(ctx, &ClientAccessOptions{UserID: o.UserID, Roles: o.Roles, Groups: o.Groups, Expiry: expiry, Protocol: proto})
		return &ca, "", err
	case "odataUserIs":
		return nil, FilterUserIs(c.ID).String(), nil
	case "odataUserIsNot":
		return nil, FilterUserIsNot(c.ID).String(), nil
	case "odataInGroup":
		return nil, FilterInGroup(c.Group).String(), nil
	default:
		return nil, "", fmt.Errorf("unknown op %q", c.Op)
	}
	return nil, "", err
}

type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestSideBySideWithJavaScriptSDK runs the same tricky calls through the real
// @azure/web-pubsub 1.2.0 and through pkg/wps against one recording server
// (TLS, since the JavaScript SDK sends Entra tokens only over https) and
// requires the same requests: method, escaped path, query, Content-Type,
// body and token (audience, lifetime, signature), plus the same client access
// URLs and odata filter strings.
func TestSideBySideWithJavaScriptSDK(t *testing.T) {
	nodetest.Require(t)
	var mu sync.Mutex
	byCase := map[string][]recorded{}
	var goReqs []recorded
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(strings.Builder)
		_, _ = fmt.Fprint(body, readAll(r))
		path, query, _ := strings.Cut(r.RequestURI, "?")
		rr := recorded{Method: r.Method, Path: path, RawQuery: query, ContentType: r.Header.Get("Content-Type"),
			Body: body.String(), Authorization: r.Header.Get("Authorization"), Host: r.Host}
		mu.Lock()
		if name := r.Header.Get("x-case"); name != "" {
			byCase[name] = append(byCase[name], rr)
		} else {
			goReqs = append(goReqs, rr)
		}
		mu.Unlock()
		switch {
		case strings.HasSuffix(path, "/:generateToken"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token":"service.issued.token"}`)
		case r.Method == "GET":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"value":[{"connectionId":"c1","userId":"u1"}]}`)
		default:
			w.WriteHeader(httprec.RESTStatus(r.Method, path))
		}
	}))
	defer srv.Close()

	endpoint := srv.URL
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	connStr := "Endpoint=https://127.0.0.1;Port=" + port + ";AccessKey=" + confKey + ";Version=1.0;"
	cases := sideBySideCases()
	proxiedConnStr := "Endpoint=https://res.webpubsub.azure.com;AccessKey=" + confKey + ";Version=1.0;"
	input, _ := json.Marshal(map[string]any{"connectionString": connStr, "proxiedConnectionString": proxiedConnStr,
		"endpoint": endpoint, "hub": "chat", "cases": cases})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := nodetest.Command(ctx, t, "wps-sidebyside.js")
	cmd.Env = append(os.Environ(), "NODE_TLS_REJECT_UNAUTHORIZED=0", "NODE_NO_WARNINGS=1")
	cmd.Stdin = strings.NewReader(string(input))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node wps-sidebyside.js: %v\n%s", err, stderr.String())
	}
	var js struct {
		Tokens map[string]ClientAccess `json:"tokens"`
		Odata  map[string]string       `json:"odata"`
		Errors map[string]string       `json:"errors"`
	}
	if err := json.Unmarshal(stdout, &js); err != nil {
		t.Fatalf("node output: %v\n%s", err, stdout)
	}

	keyClient, err := NewClientFromConnectionString(connStr, "chat", &ClientOptions{HTTPClient: srv.Client(), Retry: RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	tokClient, err := NewClient(endpoint, "chat", staticToken("entra-token"), &ClientOptions{HTTPClient: srv.Client(), Retry: RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}

	proxied, err := NewClientFromConnectionString(proxiedConnStr, "chat", &ClientOptions{HTTPClient: srv.Client(),
		ReverseProxyEndpoint: endpoint, Retry: RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}

	compared := 0
	for _, c := range cases {
		mu.Lock()
		before := len(goReqs)
		mu.Unlock()
		ca, filter, goErr := runGoCase(ctx, keyClient, tokClient, proxied, c)
		mu.Lock()
		mine := append([]recorded(nil), goReqs[before:]...)
		theirs := byCase[c.Name]
		mu.Unlock()
		desc := fmt.Sprintf("%s (id %q, group %q, groups %q, proxy %v)", c.Name, c.ID, c.Group, c.Groups, c.Proxy)
		if jsErr := js.Errors[c.Name]; jsErr != "" || goErr != nil {
			t.Errorf("%s: JavaScript error %q, Go error %v", desc, jsErr, goErr)
			continue
		}
		switch {
		case strings.HasPrefix(c.Op, "odata"):
			if filter != js.Odata[c.Name] {
				t.Errorf("%s: filter %q, JavaScript odata %q", desc, filter, js.Odata[c.Name])
			}
			compared++
			continue
		case c.Op == "clientAccess" && !c.Token:
			compareClientAccess(t, desc, *ca, js.Tokens[c.Name])
			compared++
			continue
		case c.Op == "clientAccess":
			if *ca != js.Tokens[c.Name] {
				t.Errorf("%s: client access %+v, JavaScript %+v", desc, *ca, js.Tokens[c.Name])
			}
		}
		if len(mine) != 1 || len(theirs) != 1 {
			t.Errorf("%s: Go sent %d requests, JavaScript %d; want 1 each", desc, len(mine), len(theirs))
			continue
		}
		g, j := mine[0], theirs[0]
		for _, f := range []struct{ what, g, j string }{
			{"method", g.Method, j.Method}, {"path", g.Path, j.Path}, {"query", g.RawQuery, j.RawQuery},
			{"content type", g.ContentType, j.ContentType}, {"body", g.Body, j.Body}, {"host", g.Host, j.Host},
		} {
			if f.g != f.j {
				t.Errorf("%s: %s differs:\n    Go %q\n    JS %q", desc, f.what, f.g, f.j)
			}
		}
		if c.Token {
			if g.Authorization != "Bearer entra-token" || j.Authorization != g.Authorization {
				t.Errorf("%s: Authorization Go %q, JS %q", desc, g.Authorization, j.Authorization)
			}
		} else {
			if c.Proxy && !strings.HasPrefix(mustClaims(t, g.Authorization)["aud"].(string), "https://res.webpubsub.azure.com/api/hubs/chat/") {
				t.Errorf("%s: proxied call's aud is not the service URL", desc)
			}
			gh, gc := verifyRESTToken(t, g.Authorization, confKey)
			jh, jc := verifyRESTToken(t, j.Authorization, confKey)
			if !reflect.DeepEqual(gh, jh) || gc["aud"] != jc["aud"] || len(gc) != len(jc) ||
				gc["exp"].(float64)-gc["iat"].(float64) != jc["exp"].(float64)-jc["iat"].(float64) {
				t.Errorf("%s: JWT differs:\n    Go %v %v\n    JS %v %v", desc, gh, gc, jh, jc)
			}
		}
		compared++
	}
	if compared != len(cases) {
		t.Errorf("compared %d of %d cases", compared, len(cases))
	}
	t.Logf("compared %d cases with @azure/web-pubsub", compared)
}

func mustClaims(t *testing.T, auth string) map[string]any {
	_, claims := verifyRESTToken(t, auth, confKey)
	return claims
}

func compareClientAccess(t *testing.T, desc string, g, j ClientAccess) {
	t.Helper()
	if g.BaseURL != j.BaseURL || !strings.HasPrefix(g.URL, g.BaseURL+"?access_token=") || !strings.HasPrefix(j.URL, j.BaseURL+"?access_token=") {
		t.Errorf("%s: URLs differ:\n    Go %s\n    JS %s", desc, g.URL, j.URL)
	}
	claims := func(tok string) map[string]any {
		m := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(tok, m, func(*jwt.Token) (any, error) { return []byte(confKey), nil }); err != nil {
			t.Errorf("%s: token does not verify: %v", desc, err)
		}
		life := m["exp"].(float64) - m["iat"].(float64)
		delete(m, "exp")
		delete(m, "iat")
		m["lifetime"] = life
		return m
	}
	if gc, jc := claims(g.Token), claims(j.Token); !reflect.DeepEqual(gc, jc) {
		t.Errorf("%s: client token claims differ:\n    Go %v\n    JS %v", desc, gc, jc)
	}
}

func readAll(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestDotSegmentsEscaped covers the one deliberate difference from the
// JavaScript SDK: an id that is exactly "." or ".." is percent-encoded, so
// it cannot be resolved away as a relative path segment.
func TestDotSegmentsEscaped(t *testing.T) {
	rec := newRecorder(t)
	c := newTestClient(t, rec.URL, nil)
	ctx := context.Background()
	if err := c.SendToUser(ctx, "..", Text("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.AddUserToGroup(ctx, ".", "u"); err != nil {
		t.Fatal(err)
	}
	got := rec.requests()
	if got[0].Path != "/api/hubs/chat/users/%2E%2E/:send" || got[1].Path != "/api/hubs/chat/users/u/groups/%2E" {
		t.Errorf("paths %q, %q", got[0].Path, got[1].Path)
	}
}
