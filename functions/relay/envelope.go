package relay

// This file imports the public envelope package alone: the rest of the
// package uses the internal one of the same name, which parses and sends it.
import "github.com/wpsfn/wpsfn/functions/envelope"

// Envelope is the message a producer puts on a queue, topic or event bus
// for the relay: the same type as broadcast.Request (see package envelope).
type Envelope = envelope.Envelope
