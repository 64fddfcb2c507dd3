package emulator

import "github.com/coder/websocket"

// clientProtocol is one client protocol's side of a connection: how a
// message and a disconnect look on its wire, what the client's frames mean,
// and whether the connection outlives its socket.
//
// Every protocol's connections are conns in the same hub: the hub's tables
// (groups.go) and the fan-out (fanout.go) do not know protocols, so a REST
// send, a group message or a filter reaches plain, JSON, reliable and any
// other client alike, each in its own encoding. A new client protocol
// (MQTT over WebSocket, say) plugs in here: implement clientProtocol (cache
// its encoding of a delivery in a field of delivery, as the JSON protocols
// do), accept the socket in its own handshake, build the conn with proto set
// and register it with hub.add, attach the socket (outbox.go) and run
// Server.readLoop, which hands each frame to handle. Outbound frames leave
// through the same outbox and socket writer as every other protocol's.
type clientProtocol interface {
	// message is d's frame for this protocol. Fan-out calls it for each
	// recipient with the hub's read lock held, on one goroutine per
	// delivery, so it may encode lazily and cache in d without locking.
	message(d *delivery) outMsg
	// goodbye is the frame that tells the client why it is disconnected,
	// sent before the close; ok false when the protocol has none.
	goodbye(reason string) (m outMsg, ok bool)
	// handle acts on one frame from the client, on its socket's read loop.
	handle(c *conn, typ websocket.MessageType, data []byte)
	// resumable reports whether a dropped socket leaves the connection
	// waiting ReconnectWindow for its client to recover it.
	resumable() bool
}

// The WebSocket protocols: plain WebSocket (no or an unknown subprotocol),
// json.webpubsub.azure.v1 and json.reliable.webpubsub.azure.v1.
var (
	protoRaw      clientProtocol = rawProtocol{}
	protoJSON     clientProtocol = jsonProtocol{}
	protoReliable clientProtocol = jsonProtocol{reliable: true}
)

// protocolOf is the protocol of a negotiated WebSocket subprotocol.
func protocolOf(sub string) clientProtocol {
	switch sub {
	case SubprotocolJSON:
		return protoJSON
	case SubprotocolJSONReliable:
		return protoReliable
	}
	return protoRaw
}

// rawProtocol: data as is, no envelope, no system messages.
type rawProtocol struct{}

func (rawProtocol) message(d *delivery) outMsg                          { return d.raw() }
func (rawProtocol) goodbye(string) (outMsg, bool)                       { return outMsg{}, false }
func (rawProtocol) handle(c *conn, typ websocket.MessageType, b []byte) { c.handleRaw(typ, b) }
func (rawProtocol) resumable() bool                                     { return false }

// jsonProtocol: the JSON subprotocols; reliable adds sequence ids, acks of
// them and recovery.
type jsonProtocol struct{ reliable bool }

func (p jsonProtocol) message(d *delivery) outMsg {
	if p.reliable {
		return d.reliableFrame()
	}
	return d.jsonFrame()
}

func (jsonProtocol) goodbye(reason string) (outMsg, bool) { return disconnectedFrame(reason), true }

func (jsonProtocol) handle(c *conn, typ websocket.MessageType, b []byte) { c.handleJSON(typ, b) }

func (p jsonProtocol) resumable() bool { return p.reliable }
