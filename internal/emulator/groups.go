package emulator

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// hub is one hub's connections, users and groups. Membership is guarded by
// mu; fan-out holds it for reading only while it enqueues (never while it
// writes to a socket).
type hub struct {
	s        *Server
	name     string // as first seen
	key      string // lower-case
	settings atomic.Pointer[HubSettings]

	mu     sync.RWMutex
	conns  map[string]*conn
	users  map[string]map[*conn]struct{}
	groups map[string]map[*conn]struct{}
	// userGroups remembers AddUserToGroup so that the user's later
	// connections join too (RemoveUserFromGroup forgets).
	userGroups map[string]map[string]struct{}
}

func newHub(s *Server, name string) *hub {
	h := &hub{
		s: s, name: name, key: strings.ToLower(name),
		conns:      map[string]*conn{},
		users:      map[string]map[*conn]struct{}{},
		groups:     map[string]map[*conn]struct{}{},
		userGroups: map[string]map[string]struct{}{},
	}
	h.settings.Store(&HubSettings{})
	return h
}

func (h *hub) conf() *HubSettings { return h.settings.Load() }

func (h *hub) conn(id string) *conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conns[id]
}

func (h *hub) connections() []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	cs := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		cs = append(cs, c)
	}
	return cs
}

// add registers c and joins it to groups (its initial groups, which need no
// permission) and to the groups its user was added to. It returns the
// groups joined.
func (h *hub) add(c *conn, groups []string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[c.id] = c
	if c.userID != "" {
		set := h.users[c.userID]
		if set == nil {
			set = map[*conn]struct{}{}
			h.users[c.userID] = set
		}
		set[c] = struct{}{}
		for g := range h.userGroups[c.userID] {
			groups = append(groups, g)
		}
	}
	var joined []string
	for _, g := range groups {
		if h.joinLocked(c, g) {
			joined = append(joined, g)
		}
	}
	return joined
}

// remove unregisters c and takes it out of every group.
func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[c.id] != c {
		return
	}
	delete(h.conns, c.id)
	if set := h.users[c.userID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.users, c.userID)
		}
	}
	for g := range c.groups {
		h.leaveLocked(c, g)
	}
}

func (h *hub) joinLocked(c *conn, g string) bool {
	if _, ok := c.groups[g]; ok {
		return false
	}
	if h.conns[c.id] != c {
		return false // already gone
	}
	c.groups[g] = struct{}{}
	set := h.groups[g]
	if set == nil {
		set = map[*conn]struct{}{}
		h.groups[g] = set
	}
	set[c] = struct{}{}
	return true
}

func (h *hub) leaveLocked(c *conn, g string) bool {
	if _, ok := c.groups[g]; !ok {
		return false
	}
	delete(c.groups, g)
	if set := h.groups[g]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.groups, g)
		}
	}
	return true
}

// join adds c to group g; it reports whether c was not a member before, and
// then traces the join and sends the group presence event.
func (h *hub) join(c *conn, g string) bool {
	h.mu.Lock()
	ok := h.joinLocked(c, g)
	h.mu.Unlock()
	if ok {
		c.joined(g)
	}
	return ok
}

// leave removes c from group g, reporting whether it was a member.
func (h *hub) leave(c *conn, g string) bool {
	h.mu.Lock()
	ok := h.leaveLocked(c, g)
	h.mu.Unlock()
	if ok {
		c.left(g)
	}
	return ok
}

// groupsOf returns c's groups, sorted.
func (h *hub) groupsOf(c *conn) []string {
	h.mu.RLock()
	gs := make([]string, 0, len(c.groups))
	for g := range c.groups {
		gs = append(gs, g)
	}
	h.mu.RUnlock()
	sort.Strings(gs)
	return gs
}

// leaveAll takes c out of every group.
func (h *hub) leaveAll(c *conn) {
	for _, g := range h.groupsOf(c) {
		h.leave(c, g)
	}
}

// addUserToGroup joins the user's connections to group and remembers it, so
// that the user's later connections join too.
func (h *hub) addUserToGroup(user, group string) {
	h.mu.Lock()
	set := h.userGroups[user]
	if set == nil {
		set = map[string]struct{}{}
		h.userGroups[user] = set
	}
	set[group] = struct{}{}
	h.mu.Unlock()
	for _, c := range h.selected(&selector{user: user}) {
		h.join(c, group)
	}
}

// removeUserFromGroup takes the user's connections out of group and forgets
// addUserToGroup's note.
func (h *hub) removeUserFromGroup(user, group string) {
	h.mu.Lock()
	if set := h.userGroups[user]; set != nil {
		delete(set, group)
		if len(set) == 0 {
			delete(h.userGroups, user)
		}
	}
	h.mu.Unlock()
	for _, c := range h.selected(&selector{user: user}) {
		h.leave(c, group)
	}
}

// removeUserFromAllGroups takes the user's connections out of every group.
func (h *hub) removeUserFromAllGroups(user string) {
	h.mu.Lock()
	delete(h.userGroups, user)
	h.mu.Unlock()
	for _, c := range h.selected(&selector{user: user}) {
		h.leaveAll(c)
	}
}
