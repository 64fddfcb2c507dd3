package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// TestReverseProxy routes REST calls through a gateway with a path prefix
// (ClientOptions.ReverseProxyEndpoint) and clients through another host
// (ClientEndpoint), as with Azure API Management in front of the service.
func TestReverseProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target, _ := url.Parse(e.base)
	var restCalls, clientDials atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/gw/api/"):
			restCalls.Add(1)
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/gw")
			r.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, "/gw")
		case strings.HasPrefix(r.URL.Path, "/client/"):
			clientDials.Add(1)
		default:
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	c, err := wps.NewClientFromConnectionString(e.cs, e.hub, &wps.ClientOptions{
		ReverseProxyEndpoint: proxy.URL + "/gw",
		ClientEndpoint:       proxy.URL,
		Retry:                wps.RetryOptions{MaxRetries: -1},
	})
	e.must("NewClientFromConnectionString", err)
	ctx := e.ctx()
	ca, err := c.ClientAccessURL(ctx, &wps.ClientAccessOptions{UserID: "via-proxy", Groups: []string{"p g"}})
	e.must("ClientAccessURL", err)
	if want := "ws" + strings.TrimPrefix(proxy.URL, "http") + "/client/hubs/" + e.hub; ca.BaseURL != want {
		t.Errorf("BaseURL = %q, want %q", ca.BaseURL, want)
	}
	if aud := parseClaims(t, ca.Token).Audience; aud != e.base+"/client/hubs/"+e.hub {
		t.Errorf("token audience %q, want the service's %q", aud, e.base+"/client/hubs/"+e.hub)
	}
	u := e.dialURL("via-proxy", ca.URL)
	e.must("SendToGroup via gateway", c.SendToGroup(ctx, "p g", wps.Text("through the gateway"), nil))
	u.expect(`{"type":"message","from":"group","group":"p g","dataType":"text","data":"through the gateway"}`)
	ok, err := c.ConnectionExists(ctx, u.id)
	if err != nil || !ok {
		t.Errorf("ConnectionExists via gateway = %v, %v", ok, err)
	}
	var n int
	for _, err := range c.ListConnectionsInGroup(ctx, "p g", &wps.ListOptions{MaxPageSize: 1}) {
		e.must("ListConnectionsInGroup via gateway", err)
		n++
	}
	if n != 1 {
		t.Errorf("ListConnectionsInGroup via gateway gave %d members, want 1", n)
	}
	if restCalls.Load() < 3 || clientDials.Load() != 1 {
		t.Errorf("gateway saw %d REST calls and %d client dials, want ≥3 and 1", restCalls.Load(), clientDials.Load())
	}
}

// TestConcurrent runs REST calls from many goroutines against many clients
// and checks that each client gets every message exactly once.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	const nClients, nSends = 8, 25
	var cs []*tclient
	for i := range nClients {
		cs = append(cs, e.connect(fmt.Sprint("c", i), wps.ClientAccessOptions{UserID: fmt.Sprint("u", i%3)}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, nClients+nSends)
	for _, c := range cs {
		wg.Go(func() { errs <- e.wps.AddConnectionToGroup(ctx, "crowd", c.id) })
	}
	wg.Wait()
	for i := range nSends {
		wg.Go(func() { errs <- e.wps.SendToGroup(ctx, "crowd", wps.Text(fmt.Sprint(i)), nil) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.must("concurrent call", err)
	}
	for _, c := range cs {
		seen := map[string]bool{}
		for range nSends {
			m := c.next()
			d, _ := m["data"].(string)
			if m["from"] != "group" || m["group"] != "crowd" || seen[d] {
				t.Errorf("%s: unexpected or repeated frame %s", c.name, js(m))
			}
			seen[d] = true
		}
		c.expectNone()
	}
	e.expectMembers("crowd", cs, cs...)
}
