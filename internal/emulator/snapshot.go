package emulator

import (
	"sort"
	"time"
)

// Snapshot is the emulator's state at one moment.
type Snapshot struct {
	Hubs []HubSnapshot `json:"hubs"`
}

// HubSnapshot is one hub's connections and groups.
type HubSnapshot struct {
	Name        string               `json:"name"`
	Connections []ConnectionSnapshot `json:"connections"`
	// Groups maps each non-empty group to its members' connection ids, sorted.
	Groups map[string][]string `json:"groups"`
}

// ConnectionSnapshot is one connection.
type ConnectionSnapshot struct {
	ID       string   `json:"id"`
	UserID   string   `json:"userId,omitempty"`
	Groups   []string `json:"groups"`
	Protocol string   `json:"protocol"` // "" for plain WebSocket, else the subprotocol
	// Connected is false while a reliable connection waits for its client to reconnect.
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"`
}

// Snapshot returns every hub's connections (id, user, groups, protocol) and
// groups (members), sorted.
func (s *Server) Snapshot() Snapshot {
	var snap Snapshot
	for _, h := range s.allHubs() {
		snap.Hubs = append(snap.Hubs, h.snapshot())
	}
	return snap
}

func (h *hub) snapshot() HubSnapshot {
	hs := HubSnapshot{Name: h.name, Groups: map[string][]string{}}
	h.mu.RLock()
	for _, c := range h.conns {
		cs := ConnectionSnapshot{ID: c.id, UserID: c.userID, Protocol: c.subprotocol, Since: c.since, Groups: []string{}}
		for g := range c.groups {
			cs.Groups = append(cs.Groups, g)
		}
		sort.Strings(cs.Groups)
		hs.Connections = append(hs.Connections, cs)
	}
	for g, set := range h.groups {
		ids := make([]string, 0, len(set))
		for c := range set {
			ids = append(ids, c.id)
		}
		sort.Strings(ids)
		hs.Groups[g] = ids
	}
	h.mu.RUnlock()
	for i := range hs.Connections {
		if c := h.conn(hs.Connections[i].ID); c != nil {
			hs.Connections[i].Connected = c.hasSocket()
		}
	}
	sort.Slice(hs.Connections, func(i, j int) bool { return hs.Connections[i].ID < hs.Connections[j].ID })
	return hs
}
