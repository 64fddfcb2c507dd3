package e2e

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// expectMembers checks group's members three ways: ListConnectionsInGroup
// (with a page size of 1, so every nextLink is followed, and unpaged),
// GroupExists, and who actually receives a SendToGroup; everyone in all but
// not in want must receive nothing.
func (e *env) expectMembers(group string, all []*tclient, want ...*tclient) {
	e.t.Helper()
	wantIDs := ids(want...)
	sort.Strings(wantIDs)
	for _, opts := range []*wps.ListOptions{nil, {MaxPageSize: 1}, {MaxPageSize: 2}} {
		got, users := e.members(group, opts)
		sorted := slices.Clone(got)
		sort.Strings(sorted)
		if !reflect.DeepEqual(sorted, wantIDs) && !(len(sorted) == 0 && len(wantIDs) == 0) {
			e.t.Errorf("ListConnectionsInGroup(%q, %+v) = %v, want %v", group, opts, got, wantIDs)
		}
		if len(slices.Compact(sorted)) != len(got) {
			e.t.Errorf("ListConnectionsInGroup(%q, %+v) repeats a member: %v", group, opts, got)
		}
		for _, c := range want {
			if users[c.id] != c.user {
				e.t.Errorf("ListConnectionsInGroup(%q): %s has userId %q, want %q", group, c.id, users[c.id], c.user)
			}
		}
	}
	ok, err := e.wps.GroupExists(e.ctx(), group)
	e.must("GroupExists", err)
	if ok != (len(want) > 0) {
		e.t.Errorf("GroupExists(%q) = %v, want %v", group, ok, len(want) > 0)
	}
	snap := e.snapshotGroups()[group]
	if !reflect.DeepEqual(snap, wantIDs) && !(len(snap) == 0 && len(wantIDs) == 0) {
		e.t.Errorf("emulator snapshot of %q = %v, want %v", group, snap, wantIDs)
	}
	text := fmt.Sprintf("to %s #%d", group, e.seq.Add(1))
	e.must("SendToGroup", e.wps.SendToGroup(e.ctx(), group, wps.Text(text), nil))
	in := map[*tclient]bool{}
	for _, c := range want {
		in[c] = true
		c.expect(`{"type":"message","from":"group","group":` + js(group) + `,"dataType":"text","data":` + js(text) + `}`)
	}
	for _, c := range all {
		if !in[c] {
			c.expectNone()
		}
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx()
	a1 := e.connect("a1", wps.ClientAccessOptions{UserID: "alice"})
	a2 := e.connect("a2", wps.ClientAccessOptions{UserID: "alice"})
	b := e.connect("b", wps.ClientAccessOptions{UserID: "bob"})
	o := e.connect("o", wps.ClientAccessOptions{UserID: "o'brien"})
	anon := e.connect("anon", wps.ClientAccessOptions{})
	all := []*tclient{a1, a2, b, o, anon}

	e.expectMembers("g1", all)

	// Connections.
	e.must("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, "g1", b.id))
	e.must("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, "g1", a1.id))
	e.must("AddConnectionToGroup (again)", e.wps.AddConnectionToGroup(ctx, "g1", a1.id))
	e.expectMembers("g1", all, a1, b)
	e.must("RemoveConnectionFromGroup", e.wps.RemoveConnectionFromGroup(ctx, "g1", b.id))
	e.expectMembers("g1", all, a1)
	e.must("RemoveConnectionFromGroup (not a member)", e.wps.RemoveConnectionFromGroup(ctx, "g1", b.id))
	e.expectMembers("g1", all, a1)

	// Users: all of the user's connections.
	e.must("AddUserToGroup", e.wps.AddUserToGroup(ctx, "g2", "alice"))
	e.must("AddUserToGroup", e.wps.AddUserToGroup(ctx, "g3", "alice"))
	e.must("AddUserToGroup", e.wps.AddUserToGroup(ctx, "g2", "o'brien"))
	e.expectMembers("g2", all, a1, a2, o)
	e.expectMembers("g3", all, a1, a2)
	e.must("RemoveUserFromGroup", e.wps.RemoveUserFromGroup(ctx, "g2", "alice"))
	e.expectMembers("g2", all, o)
	e.expectMembers("g3", all, a1, a2)
	e.must("RemoveUserFromAllGroups", e.wps.RemoveUserFromAllGroups(ctx, "alice"))
	e.expectMembers("g1", all)
	e.expectMembers("g3", all)
	e.expectMembers("g2", all, o)

	// RemoveConnectionFromAllGroups leaves the user's other connections alone.
	e.must("AddUserToGroup", e.wps.AddUserToGroup(ctx, "g4", "alice"))
	e.must("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, "g5", a1.id))
	e.must("RemoveConnectionFromAllGroups", e.wps.RemoveConnectionFromAllGroups(ctx, a1.id))
	e.expectMembers("g4", all, a2)
	e.expectMembers("g5", all)

	// By filter, several groups at once.
	e.must("AddConnectionsToGroups", e.wps.AddConnectionsToGroups(ctx, []string{"f1", "f2"}, wps.Or(wps.FilterUserIs("o'brien"), wps.FilterConnectionIs(b.id))))
	e.expectMembers("f1", all, b, o)
	e.expectMembers("f2", all, b, o)
	e.must("AddConnectionsToGroups (in group, not user)", e.wps.AddConnectionsToGroups(ctx, []string{"f3"}, wps.And(wps.FilterInGroup("f1"), wps.Not(wps.FilterUserIs("bob")))))
	e.expectMembers("f3", all, o)
	e.must("RemoveConnectionsFromGroups", e.wps.RemoveConnectionsFromGroups(ctx, []string{"f1", "f3"}, wps.FilterUserIs("o'brien")))
	e.expectMembers("f1", all, b)
	e.expectMembers("f2", all, b, o)
	e.expectMembers("f3", all)
	e.must("AddConnectionsToGroups (no filter: everyone)", e.wps.AddConnectionsToGroups(ctx, []string{"every"}, wps.Filter{}))
	e.expectMembers("every", all, all...)
	e.must("AddConnectionsToGroups (user is not)", e.wps.AddConnectionsToGroups(ctx, []string{"nb"}, wps.FilterUserIsNot("bob")))
	e.expectMembers("nb", all, a1, a2, o, anon) // anonymous connections included
	e.must("RemoveConnectionsFromGroups (user in)", e.wps.RemoveConnectionsFromGroups(ctx, []string{"nb"}, wps.FilterUserIn("alice", "o'brien")))
	e.expectMembers("nb", all, anon)
	e.must("RemoveConnectionsFromGroups (connection in)", e.wps.RemoveConnectionsFromGroups(ctx, []string{"nb"}, wps.FilterConnectionIn(anon.id, b.id)))
	e.expectMembers("nb", all)
	e.must("RemoveConnectionsFromGroups (no filter)", e.wps.RemoveConnectionsFromGroups(ctx, []string{"every", "f2"}, wps.Filter{}))
	e.expectMembers("every", all)
	e.expectMembers("f2", all)

	// A closed connection leaves its groups.
	e.must("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, "g6", b.id))
	e.must("AddConnectionToGroup", e.wps.AddConnectionToGroup(ctx, "g6", o.id))
	e.must("CloseConnection", e.wps.CloseConnection(ctx, b.id, nil))
	b.expectClosed("")
	e.expectMembers("g6", []*tclient{a1, a2, o, anon}, o)
}

// TestListPaging lists a larger group with small pages and a Top limit.
func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var cs []*tclient
	for i := range 7 {
		cs = append(cs, e.connect(fmt.Sprint("c", i), wps.ClientAccessOptions{UserID: fmt.Sprint("u", i), Groups: []string{"big"}}))
	}
	want := ids(cs...)
	sort.Strings(want)
	for _, opts := range []*wps.ListOptions{{MaxPageSize: 1}, {MaxPageSize: 3}, {MaxPageSize: 200}} {
		got, users := e.members("big", opts)
		s := slices.Clone(got)
		sort.Strings(s)
		if !reflect.DeepEqual(s, want) {
			t.Errorf("ListConnectionsInGroup(%+v) = %v, want %v", opts, got, want)
		}
		for i, c := range cs {
			if users[c.id] != fmt.Sprint("u", i) {
				t.Errorf("member %s has user %q, want u%d", c.id, users[c.id], i)
			}
		}
	}
	for _, opts := range []*wps.ListOptions{{Top: 4}, {Top: 4, MaxPageSize: 3}, {Top: 5, MaxPageSize: 1}} {
		got, _ := e.members("big", opts)
		if len(got) != opts.Top {
			t.Errorf("ListConnectionsInGroup(%+v) gave %d members %v, want %d", opts, len(got), got, opts.Top)
		}
		for _, id := range got {
			if !slices.Contains(want, id) {
				t.Errorf("ListConnectionsInGroup(%+v) gave unknown member %q", opts, id)
			}
		}
	}
	// The pages are really fetched one by one, following nextLink.
	var gets atomic.Int32
	counted, err := wps.NewClientFromConnectionString(e.cs, e.hub, &wps.ClientOptions{
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet {
				gets.Add(1)
			}
			return http.DefaultTransport.RoundTrip(r)
		})},
	})
	e.must("NewClientFromConnectionString", err)
	for _, size := range []int{1, 3} {
		gets.Store(0)
		n := 0
		for _, err := range counted.ListConnectionsInGroup(e.ctx(), "big", &wps.ListOptions{MaxPageSize: size}) {
			e.must("ListConnectionsInGroup", err)
			n++
		}
		if pages := int(gets.Load()); n != 7 || pages < (7+size-1)/size || pages > 7/size+1 {
			t.Errorf("MaxPageSize %d: %d members in %d requests, want 7 in %d or %d", size, n, pages, (7+size-1)/size, 7/size+1)
		}
	}

	// Stopping the iteration early must be allowed.
	n := 0
	for _, err := range e.wps.ListConnectionsInGroup(e.ctx(), "big", &wps.ListOptions{MaxPageSize: 2}) {
		e.must("ListConnectionsInGroup", err)
		if n++; n == 3 {
			break
		}
	}
	if got, _ := e.members("nobody", &wps.ListOptions{MaxPageSize: 1}); len(got) != 0 {
		t.Errorf("ListConnectionsInGroup(empty group) = %v, want none", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
