package emulator

import (
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// TraceEvent is one entry of the live trace.
type TraceEvent struct {
	Time time.Time
	// Kind is "frame-in", "frame-out", "upstream", "rest", "connected",
	// "disconnected", "group-join" or "group-leave".
	Kind                             string
	Hub, ConnectionID, UserID, Group string
	// Summary is one short line; it never contains keys or tokens.
	Summary string
	// Status is the HTTP status of upstream and REST calls (and of a rejected
	// handshake); 0 otherwise.
	Status int
	// Latency is the duration of upstream and REST calls.
	Latency time.Duration
}

// Trace kinds.
const (
	TraceFrameIn      = "frame-in"
	TraceFrameOut     = "frame-out"
	TraceUpstream     = "upstream"
	TraceREST         = "rest"
	TraceConnected    = "connected"
	TraceDisconnected = "disconnected"
	TraceGroupJoin    = "group-join"
	TraceGroupLeave   = "group-leave"
)

func (s *Server) trace(ev TraceEvent) {
	if s.cfg.Trace == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	s.cfg.Trace(ev)
}

func (s *Server) tracing() bool { return s.cfg.Trace != nil }

func (c *conn) traceFrame(kind, what string, typ websocket.MessageType, data []byte) {
	c.s.trace(TraceEvent{Kind: kind, Hub: c.h.name, ConnectionID: c.id, UserID: c.userID, Summary: frameSummary(what, typ, data)})
}

// traceBatch traces the frames of a written batch.
func (c *conn) traceBatch(batch []outMsg, scratch *[]byte) {
	for _, m := range batch {
		data := m.data
		if m.seq > 0 {
			*scratch = appendSequenced((*scratch)[:0], m.seq, m.data)
			data = *scratch
		}
		if c.mq != nil {
			c.traceMQTTOut(data) // mqtt_trace.go: the packet, not its bytes
			continue
		}
		c.traceFrame(TraceFrameOut, m.kind.String(), m.typ, data)
	}
}

// frameSummary is a short, single-line description of a frame.
func frameSummary(what string, typ websocket.MessageType, data []byte) string {
	const max = 160
	if typ == websocket.MessageBinary {
		return what + " binary " + strconv.Itoa(len(data)) + " bytes"
	}
	s := string(data)
	if len(s) > max {
		s = s[:max] + "…"
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			b := []byte(s)
			for j := range b {
				if b[j] == '\n' || b[j] == '\r' {
					b[j] = ' '
				}
			}
			s = string(b)
			break
		}
	}
	if what == "" {
		return s
	}
	return what + " " + s
}
