package cloudevents

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// This file is the wire format of the service side: what Azure Web PubSub
// (or the local emulator, through package upstream) sends to an event
// handler.

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// EncodeEvent writes the CloudEvents binary-mode headers of ev into h, an
// empty header of a request to an event handler, and returns the body: the
// ce-* headers from ev's ConnectionContext (Type, EventName, ID and Time are
// filled in when empty), WebHook-Request-Origin when ev has an Origin, and
// the Content-Type. It writes no ce-signature (see Keys.Sign). Package
// upstream builds its requests with it.
func EncodeEvent(h http.Header, ev Event) ([]byte, error) {
	c := ev.connectionContext()
	if c.ConnectionID == "" {
		return nil, errors.New("cloudevents: ConnectionID is empty")
	}
	if c.Hub == "" {
		return nil, errors.New("cloudevents: Hub is empty")
	}
	ct, body, err := ev.body()
	if err != nil {
		return nil, fmt.Errorf("cloudevents: encoding the body: %w", err)
	}
	name, typ := ev.defaults()
	if c.EventName != "" {
		name = c.EventName
	}
	if c.Type != "" {
		typ = c.Type
	}
	id := c.ID
	if id == "" {
		id = idPrefix + strconv.FormatUint(idCounter.Add(1), 10)
	}
	tm := c.Time
	if tm == "" {
		tm = time.Now().UTC().Format(time.RFC3339)
	}
	vals := make([]string, 0, 17) // one backing array for every header's value
	set := func(k, v string) {
		if v != "" {
			vals = append(vals, v)
			h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	set(HeaderSpecVersion, "1.0")
	set(HeaderType, typ)
	set(HeaderSource, source(c))
	set(HeaderID, id)
	set(HeaderTime, tm)
	set(HeaderAWPSVersion, "1.0")
	set(HeaderHub, c.Hub)
	set(HeaderConnectionID, c.ConnectionID)
	set(HeaderEventName, name)
	set(HeaderRequestOrigin, c.Origin)
	set("Content-Type", ct)
	set(HeaderUserID, c.UserID)
	set(HeaderSubprotocol, c.Subprotocol)
	set(HeaderConnectionState, c.RawState)
	set(HeaderPhysicalConnectionID, c.PhysicalConnectionID)
	set(HeaderSessionID, c.SessionID)
	if u, ok := ev.(*UserEventRequest); ok {
		for _, p := range u.MQTTUserProperties {
			h.Add(mqttHeaderPrefix+p.Name, p.Value)
		}
	}
	return body, nil
}

// source is ce-source: /hubs/{hub}/client/{connectionId}, and for MQTT the
// physical connection id after it, as the service sends it
// (reference-mqtt-cloud-events).
func source(c *ConnectionContext) string {
	s := "/hubs/" + c.Hub + "/client/" + c.ConnectionID
	if c.PhysicalConnectionID != "" {
		s += "/" + c.PhysicalConnectionID
	}
	return s
}
