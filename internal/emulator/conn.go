package emulator

import (
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// Subprotocol names.
const (
	SubprotocolJSON         = "json.webpubsub.azure.v1"
	SubprotocolJSONReliable = "json.reliable.webpubsub.azure.v1"
)

// closeReason says why a connection ends.
type closeReason struct {
	code   websocket.StatusCode
	reason string // the disconnected message / upstream reason
	now    bool   // close the socket at once, without flushing
}

var (
	closeServiceShutdown = closeReason{code: websocket.StatusGoingAway, reason: "ServiceShutdown: the emulator is shutting down."}
	closeSessionExpired  = closeReason{code: websocket.StatusPolicyViolation, reason: "SessionExpired: the client did not reconnect in time."}
	closeSlowClient      = closeReason{code: websocket.StatusPolicyViolation, reason: "SlowClient: too many messages or bytes are waiting for the client.", now: true}
)

// conn is one logical client connection. For reliable clients it outlives
// its socket: a new socket may resume it within the reconnect window.
type conn struct {
	s           *Server
	h           *hub
	id          string
	ord         uint64 // creation order: fan-outs write connections in this order
	userID      string
	proto       clientProtocol
	subprotocol string
	since       time.Time
	claims      map[string][]string

	// sendToGroupMode: plain WebSocket frames go to modeGroup.
	sendToGroupMode bool
	modeGroup       string
	reconnectToken  string

	groups map[string]struct{} // guarded by h.mu

	pmu    sync.Mutex // guards perms, state, ackIDs
	perms  perms
	state  string
	hasSt  bool
	ackIDs map[uint64]struct{}

	omu          sync.Mutex // guards the outbound side and the socket
	sock         *socket
	pending      []outMsg
	pendingBytes int // of pending's data, bounded by Config.OutboundQueueBytes
	spare        []outMsg
	unacked      []outMsg // reliable: sequenced, not yet acknowledged
	unackedBytes int
	nextSeq      uint64
	ended        bool
	attached     bool // a socket was attached once; before that, frames wait in pending
	endReason    closeReason
	dropTimer    *time.Timer
	// writer is who is writing the queue now: only that one takes batches
	// from pending, which keeps frames in order; it re-checks pending
	// before it lets go.
	writer writerKind

	async asyncQueue

	mq *mqttSession // MQTT sessions only (also their proto)
}

func (c *conn) hasSocket() bool {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.sock != nil
}

// socketGone handles the end of sk's read loop: a reliable connection waits
// for recovery, any other ends.
func (c *conn) socketGone(sk *socket, resumable bool, r closeReason) {
	window := c.s.cfg.ReconnectWindow
	if c.mq != nil {
		window = c.mq.window() // the MQTT session expiry; taken before omu
	}
	c.omu.Lock()
	if c.sock != sk {
		c.omu.Unlock()
		return // replaced by a resumed socket
	}
	c.sock = nil
	ended := c.ended
	if !ended && resumable && c.proto.resumable() && window > 0 && !c.s.closing.Load() {
		// The pending timer is counted as the server's work: whoever stops
		// it (stopDropTimer) or its own run ends the count.
		c.s.conns.Add(1)
		c.dropTimer = time.AfterFunc(window, func() {
			defer c.s.conns.Done()
			c.close(closeSessionExpired)
		})
		c.omu.Unlock()
		sk.cancel()
		sk.ws.CloseNow() // the session waits; the socket and its descriptor go now
		c.s.log.Info("emulator: socket dropped, waiting for recovery", "hub", c.h.name, "connectionId", c.id)
		return
	}
	c.omu.Unlock()
	sk.cancel()
	sk.ws.CloseNow() // after a 1009 or a close handshake; the reader is gone
	if !ended {
		c.close(r)
	}
}

// dropSocket cuts the socket off without a close frame.
func (c *conn) dropSocket() bool {
	c.omu.Lock()
	sk := c.sock
	c.omu.Unlock()
	if sk == nil {
		return false
	}
	sk.ws.CloseNow()
	return true
}

// close ends the connection: a disconnected system message (JSON
// protocols), a close frame, removal from the hub, the disconnected upstream
// event and the trace entry. It is idempotent.
func (c *conn) close(r closeReason) {
	c.omu.Lock()
	if c.ended {
		c.omu.Unlock()
		return
	}
	c.ended = true
	if c.proto.resumable() && r.code != websocket.StatusGoingAway {
		// The session is gone; 1008 tells the client not to try recovery.
		r.code = websocket.StatusPolicyViolation
	}
	c.endReason = r
	c.stopDropTimerLocked()
	sk := c.sock
	if sk != nil && !r.now {
		if m, ok := c.proto.goodbye(r.reason); ok {
			c.pending = append(c.pending, m)
			c.pendingBytes += len(m.data)
		}
	}
	c.omu.Unlock()
	if sk != nil {
		if r.now {
			sk.ws.CloseNow()
			sk.cancel()
		} else {
			sk.signal()
		}
	}
	c.h.remove(c)
	if c.mq != nil {
		c.mq.ended()
	}
	c.s.up.disconnected(c, r.reason)
	c.s.log.Info("emulator: connection closed", "hub", c.h.name, "connectionId", c.id, "reason", r.reason)
	c.s.trace(TraceEvent{Kind: TraceDisconnected, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: r.reason})
}

func (c *conn) closeSlow() {
	c.s.log.Warn("emulator: closing slow client", "hub", c.h.name, "connectionId", c.id)
	c.close(closeSlowClient)
}

// joined and left run after a membership change: trace and presence event.
func (c *conn) joined(g string) {
	c.s.trace(TraceEvent{Kind: TraceGroupJoin, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Group: g, Summary: "joined " + g})
	c.s.up.groupEvent(c, "joined", g)
}

func (c *conn) left(g string) {
	c.s.trace(TraceEvent{Kind: TraceGroupLeave, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Group: g, Summary: "left " + g})
	c.s.up.groupEvent(c, "left", g)
}

// getState returns the stored ce-connectionState value.
func (c *conn) getState() (string, bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.state, c.hasSt
}

func (c *conn) setState(v string) {
	c.pmu.Lock()
	c.state, c.hasSt = v, true
	c.pmu.Unlock()
}

// forgetAck drops ackID from the processed ones.
func (c *conn) forgetAck(ackID uint64) {
	c.pmu.Lock()
	delete(c.ackIDs, ackID)
	c.pmu.Unlock()
}

// seenAck records ackID and reports whether it was processed before.
func (c *conn) seenAck(ackID uint64) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if _, ok := c.ackIDs[ackID]; ok {
		return true
	}
	if c.ackIDs == nil || len(c.ackIDs) >= maxRememberedAckIDs {
		c.ackIDs = map[uint64]struct{}{}
	}
	c.ackIDs[ackID] = struct{}{}
	return false
}

func truncateReason(s string) string {
	// A close frame's reason is at most 123 bytes of valid UTF-8: cut on a
	// rune boundary, or clients fail the connection (1006/1007).
	return shorten.Prefix(s, 120)
}

// stopDropTimerLocked stops the session timer of a dropped reliable socket;
// c.omu held.
func (c *conn) stopDropTimerLocked() {
	if c.dropTimer != nil {
		if c.dropTimer.Stop() {
			c.s.conns.Done() // it will not run
		}
		c.dropTimer = nil
	}
}
