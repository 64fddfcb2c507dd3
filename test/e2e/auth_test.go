package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wpsfn/wpsfn/internal/emulator"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// parseClaims reads a client token's claims without verifying it.
func parseClaims(t *testing.T, token string) *wps.ClientClaims {
	t.Helper()
	var c wps.ClientClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatalf("parse client token: %v", err)
	}
	return &c
}

func resign(t *testing.T, c *wps.ClientClaims, key string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expectRefused dials url and expects the handshake to be refused with status.
func (e *env) expectRefused(what, u string, status int) {
	e.t.Helper()
	conn, resp, err := e.dial(u)
	if err == nil {
		conn.CloseNow()
		e.t.Errorf("%s: connected, want a refusal with %d", what, status)
		return
	}
	if resp == nil || resp.StatusCode != status {
		e.t.Errorf("%s: dial error %v, status %s, want %d", what, err, statusText(resp), status)
	}
}

func statusText(resp *http.Response) string { return status(resp) }

func TestClientAccessURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	ca, err := e.wps.ClientAccessURL(ctx, &wps.ClientAccessOptions{
		UserID: "u1", Roles: []string{wps.RoleSendToGroup("g")}, Groups: []string{"g", "h"}, Expiry: 90 * time.Second,
	})
	e.must("ClientAccessURL", err)
	if want := "ws" + strings.TrimPrefix(e.base, "http") + "/client/hubs/" + e.hub; ca.BaseURL != want {
		t.Errorf("BaseURL = %q, want %q", ca.BaseURL, want)
	}
	if ca.URL != ca.BaseURL+"?access_token="+url.QueryEscape(ca.Token) {
		t.Errorf("URL = %q, want BaseURL?access_token=Token", ca.URL)
	}
	cl := parseClaims(t, ca.Token)
	if cl.Subject != "u1" || !slices.Equal(cl.Groups, []string{"g", "h"}) || !slices.Equal(cl.Roles, []string{"webpubsub.sendToGroup.g"}) {
		t.Errorf("claims = %+v", cl)
	}
	if cl.ExpiresAt == nil || cl.IssuedAt == nil || cl.ExpiresAt.Sub(cl.IssuedAt.Time) != 90*time.Second {
		t.Errorf("exp - iat = %v, want 90s", cl.ExpiresAt.Sub(cl.IssuedAt.Time))
	}

	c := e.dialURL("c", ca.URL)
	if c.user != "u1" {
		t.Errorf("connected userId = %q, want u1", c.user)
	}
	e.expectMembers("g", []*tclient{c}, c)
	e.expectMembers("h", []*tclient{c}, c)
	c.expectAckOK(publish("g", "x"))
	c.expect(publishedFrame("g", "u1", "x"))
	c.expectAckError(publish("h", "x"), "Forbidden")

	// The same claims, expired beyond any clock-skew allowance, are refused.
	old := *cl
	old.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	old.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	e.expectRefused("expired token", ca.BaseURL+"?access_token="+resign(t, &old, emulator.DefaultAccessKey), http.StatusUnauthorized)
	// As are a token signed with another key and no token at all.
	e.expectRefused("wrong key", ca.BaseURL+"?access_token="+resign(t, cl, "not-the-key"), http.StatusUnauthorized)
	e.expectRefused("no token", ca.BaseURL, http.StatusUnauthorized)
	// And a token for another hub.
	other, err := e.client("other").ClientAccessURL(ctx, nil)
	e.must("ClientAccessURL(other)", err)
	e.expectRefused("other hub's token", ca.BaseURL+"?access_token="+other.Token, http.StatusUnauthorized)

	if _, err := e.wps.ClientAccessURL(ctx, &wps.ClientAccessOptions{Expiry: -time.Minute}); err == nil {
		t.Error("ClientAccessURL with a negative Expiry succeeded")
	}
}

// tenantCredential is an azcore.TokenCredential on the emulator's
// managed-identity endpoint: the local tenant's RS256 tokens, which its REST
// API verifies. (azidentity's ManagedIdentityCredential would do the same,
// but MSAL caches its tokens process-wide, and these tests run emulators in
// parallel, each with its own key.) token, when set, replaces the answer.
type tenantCredential struct {
	endpoint, header string
	token            string
	calls            atomic.Int32
}

func newTenantCredential(e *env) *tenantCredential {
	mi := e.emu.ManagedIdentityEnv(e.base)
	return &tenantCredential{endpoint: mi["IDENTITY_ENDPOINT"], header: mi["IDENTITY_HEADER"]}
}

func (c *tenantCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	if !slices.Equal(o.Scopes, []string{wps.Scope}) {
		return azcore.AccessToken{}, errors.New("unexpected scopes " + strings.Join(o.Scopes, ","))
	}
	if c.token != "" {
		return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"?api-version=2019-08-01&resource="+strings.TrimSuffix(wps.Scope, "/.default"), nil)
	req.Header.Set("X-IDENTITY-HEADER", c.header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   string `json:"expires_on"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return azcore.AccessToken{}, fmt.Errorf("managed identity endpoint: %d %v", resp.StatusCode, err)
	}
	exp, _ := strconv.ParseInt(body.ExpiresOn, 10, 64)
	return azcore.AccessToken{Token: body.AccessToken, ExpiresOn: time.Unix(exp, 0)}, nil
}

func TestTokenCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	cred := newTenantCredential(e)
	c, err := wps.NewClient(e.base, e.hub, cred, &wps.ClientOptions{Retry: wps.RetryOptions{MaxRetries: -1}})
	e.must("NewClient", err)

	// :generateToken mints the client token.
	ca, err := c.ClientAccessURL(ctx, &wps.ClientAccessOptions{
		UserID: "entra-user", Groups: []string{"eg"}, Roles: []string{wps.RoleJoinLeaveGroupAny}, Expiry: 3 * time.Minute,
	})
	e.must("ClientAccessURL via :generateToken", err)
	cl := parseClaims(t, ca.Token)
	if cl.Subject != "entra-user" || !slices.Equal(cl.Groups, []string{"eg"}) || !slices.Equal(cl.Roles, []string{"webpubsub.joinLeaveGroup"}) {
		t.Errorf("generated token claims = %+v", cl)
	}
	if cl.ExpiresAt == nil || cl.IssuedAt == nil || cl.ExpiresAt.Sub(cl.IssuedAt.Time) != 3*time.Minute {
		t.Errorf("generated token lives %v, want 3m", cl.ExpiresAt.Sub(cl.IssuedAt.Time))
	}
	u := e.dialURL("entra", ca.URL)
	if u.user != "entra-user" {
		t.Errorf("connected userId = %q", u.user)
	}
	e.expectMembers("eg", []*tclient{u}, u)
	u.expectAckOK(join("any"))

	// The service takes whole minutes, at least one.
	short, err := c.ClientAccessURL(ctx, &wps.ClientAccessOptions{Expiry: 20 * time.Second})
	e.must("ClientAccessURL(20s)", err)
	if sc := parseClaims(t, short.Token); sc.ExpiresAt.Sub(sc.IssuedAt.Time) != time.Minute {
		t.Errorf("a 20 s generated token lives %v, want 1m", sc.ExpiresAt.Sub(sc.IssuedAt.Time))
	}

	// A send and a query with the token credential.
	e.must("SendToUser", c.SendToUser(ctx, "entra-user", wps.JSON(map[string]string{"via": "entra"}), nil))
	u.expect(`{"type":"message","from":"server","dataType":"json","data":{"via":"entra"}}`)
	ok, err := c.UserExists(ctx, "entra-user")
	if err != nil || !ok {
		t.Errorf("UserExists via TokenCredential = %v, %v", ok, err)
	}
	if n := cred.calls.Load(); n != 1 {
		t.Errorf("GetToken called %d times for 4 calls, want 1 (the token is cached until it expires)", n)
	}

	// A token signed with the access key for the Entra audience is refused,
	// as is one from another emulator's tenant.
	keySigned, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": emulator.EntraAudience, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(emulator.DefaultAccessKey))
	otherTenant, err := newTenantCredential(newEnv(t)).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{wps.Scope}})
	e.must("another emulator's token", err)
	for name, tok := range map[string]string{"key-signed": keySigned, "another tenant's": otherTenant.Token} {
		bad, err := wps.NewClient(e.base, e.hub, &tenantCredential{token: tok}, &wps.ClientOptions{Retry: wps.RetryOptions{MaxRetries: -1}})
		e.must("NewClient", err)
		err = bad.SendToAll(ctx, wps.Text("no"), nil)
		var re *wps.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
			t.Errorf("SendToAll with a %s bearer token: %v, want a 401 *wps.ResponseError", name, err)
		}
	}
	u.expectNone()
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	c := e.connect("c", wps.ClientAccessOptions{UserID: "u"})

	notFound := func(op string, err error) {
		t.Helper()
		var re *wps.ResponseError
		if !errors.As(err, &re) {
			t.Errorf("%s on an unknown connection: %v, want a *wps.ResponseError", op, err)
			return
		}
		if re.StatusCode != http.StatusNotFound || re.Code != "Info.Connection.NotExisted" {
			t.Errorf("%s: status %d code %q, want 404 Info.Connection.NotExisted", op, re.StatusCode, re.Code)
		}
		if re.Message == "" || !strings.Contains(err.Error(), "404") {
			t.Errorf("%s: error text %q lacks the status or the service's message", op, err)
		}
	}
	notFound("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, "g", "no-such-conn"))
	notFound("GrantPermission", e.wps.GrantPermission(ctx, "no-such-conn", wps.PermissionSendToGroup, nil))
	notFound("GrantPermission(target)", e.wps.GrantPermission(ctx, "no-such-conn", wps.PermissionJoinLeaveGroup, &wps.PermissionOptions{TargetName: "g"}))

	// What the service answers with success for an unknown connection
	// (recorded: revoke 204; documented by the emulator: send 202).
	e.must("RevokePermission(unknown)", e.wps.RevokePermission(ctx, "no-such-conn", wps.PermissionSendToGroup, nil))
	e.must("RemoveConnectionFromGroup(unknown)", e.wps.RemoveConnectionFromGroup(ctx, "g", "no-such-conn"))
	e.must("SendToConnection(unknown)", e.wps.SendToConnection(ctx, "no-such-conn", wps.Text("lost"), nil))
	ok, err := e.wps.CheckPermission(ctx, "no-such-conn", wps.PermissionSendToGroup, nil)
	if err != nil || ok {
		t.Errorf("CheckPermission(unknown) = %v, %v; want false, nil", ok, err)
	}
	ok, err = e.wps.ConnectionExists(ctx, "no-such-conn")
	if err != nil || ok {
		t.Errorf("ConnectionExists(unknown) = %v, %v; want false, nil", ok, err)
	}
	if got := e.snapshotGroups()["g"]; len(got) != 0 {
		t.Errorf("group g has members %v after failed adds", got)
	}
	c.expectNone()

	// A wrong key: 401, nothing delivered, and neither key nor token in the error.
	const wrongKey = "V1JPTkcta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw"
	cs := "Endpoint=" + e.base + ";AccessKey=" + wrongKey + ";Version=1.0;"
	bad, err := wps.NewClientFromConnectionString(cs, e.hub, &wps.ClientOptions{Retry: wps.RetryOptions{MaxRetries: -1}})
	e.must("NewClientFromConnectionString", err)
	for op, err := range map[string]error{
		"SendToAll":            bad.SendToAll(ctx, wps.Text("must not arrive"), nil),
		"SendToConnection":     bad.SendToConnection(ctx, c.id, wps.Text("must not arrive"), nil),
		"AddConnectionToGroup": bad.AddConnectionToGroup(ctx, "g", c.id),
		"CloseConnection":      bad.CloseConnection(ctx, c.id, &wps.CloseConnectionOptions{Reason: "no"}),
		"ConnectionExists": func() error {
			_, err := bad.ConnectionExists(ctx, c.id)
			return err
		}(),
	} {
		var re *wps.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a wrong key: %v, want a 401 *wps.ResponseError", op, err)
			continue
		}
		text := err.Error()
		for _, secret := range []string{wrongKey, emulator.DefaultAccessKey, "eyJ", "Bearer"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s error text %q contains %q", op, text, secret)
			}
		}
	}
	c.expectNone() // still connected, nothing delivered, not in g
	if got := e.snapshotGroups()["g"]; len(got) != 0 {
		t.Errorf("group g has members %v after an unauthorized add", got)
	}
	// A client token signed with the wrong key is refused too.
	ca, err := bad.ClientAccessURL(ctx, nil)
	e.must("ClientAccessURL(wrong key)", err)
	e.expectRefused("client token signed with a wrong key", ca.URL, http.StatusUnauthorized)
}
