package broadcast

// This file imports the public envelope package alone: the rest of the
// package uses the internal one of the same name, which parses and sends it.
import "github.com/wpsfn/wpsfn/functions/envelope"

// Request is the body of a broadcast call: the envelope every wpsfn
// producer writes, the same type as relay.Envelope (see package envelope).
type Request = envelope.Envelope
