// Package envelope holds the one message format a producer writes to reach
// Web PubSub through wpsfn: the body of a broadcast function call
// (broadcast.Request) and every message the relay function takes from a
// queue, a topic or an event bus (relay.Envelope). Both names are aliases
// of Envelope, and both functions check it with the same code:
//
//	{"to":"all"|"user"|"group"|"connection", "id":"...",
//	 "text":"..." | "json":<any JSON> | "binary":"<standard base64>",
//	 "ttl":<seconds, 1..300>, "filter":"<OData filter>", "excluded":["<connection id>",...]}
//
// A producer in Go marshals an Envelope with encoding/json and puts the
// bytes on its queue (or POSTs them to broadcast); relay.CheckEnvelope says
// whether the relay will send them. `wpsfn send --envelope` prints one for
// a target and message given on the command line.
package envelope

import "encoding/json"

// Envelope is the JSON a producer writes.
type Envelope struct {
	// To is "all", "user", "group" or "connection".
	To string `json:"to"`
	// ID is the user id, group name or connection id (not for "all").
	ID string `json:"id,omitempty"`
	// Exactly one of Text, JSON and Binary (standard base64) is the message;
	// Text and Binary are pointers so that an empty message can be given.
	Text   *string         `json:"text,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
	Binary *string         `json:"binary,omitempty"`
	// TTL, in whole seconds (1 to 300), drops the message for a connection
	// that has not taken it up in time; 0 or absent means no expiry.
	TTL int `json:"ttl,omitempty"`
	// Filter is an OData filter on the receiving connections (all, user, group).
	Filter string `json:"filter,omitempty"`
	// Excluded lists connection ids that must not get the message (all, group).
	Excluded []string `json:"excluded,omitempty"`
}
