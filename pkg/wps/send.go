package wps

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// MaxMessageTTL is the longest SendOptions.MessageTTL the service accepts.
const MaxMessageTTL = 300 * time.Second

// SendOptions are the optional parts of a Send call. Each operation takes only
// the options the REST API has for it; setting another one is an error
// rather than being silently dropped.
type SendOptions struct {
	// Excluded lists connection ids that must not get the message
	// (SendToAll and SendToGroup only).
	Excluded []string
	// Filter selects the receiving connections among those addressed, such
	// as FilterUserIs("alice") (SendToAll, SendToUser and SendToGroup only).
	// The zero Filter means no filter.
	Filter Filter
	// MessageTTL drops the message for a connection that has not taken it up
	// in time. Zero means it never expires; at most MaxMessageTTL (a longer
	// or negative one makes the call fail); sent in whole seconds, rounded up.
	MessageTTL time.Duration
}

// SendToAll sends msg to every connection of the hub.
func (c *Client) SendToAll(ctx context.Context, msg Message, opts *SendOptions) error {
	const op = "SendToAll"
	q, err := sendQuery(op, opts, true, true)
	if err != nil {
		return err
	}
	return c.send(ctx, op, "/:send", q, msg)
}

// SendToUser sends msg to every connection of the user userID.
func (c *Client) SendToUser(ctx context.Context, userID string, msg Message, opts *SendOptions) error {
	const op = "SendToUser"
	if err := checkID(op, "user id", userID); err != nil {
		return err
	}
	q, err := sendQuery(op, opts, false, true)
	if err != nil {
		return err
	}
	return c.send(ctx, op, "/users/"+escapePath(userID)+"/:send", q, msg)
}

// SendToConnection sends msg to one connection.
func (c *Client) SendToConnection(ctx context.Context, connectionID string, msg Message, opts *SendOptions) error {
	const op = "SendToConnection"
	if err := checkID(op, "connection id", connectionID); err != nil {
		return err
	}
	q, err := sendQuery(op, opts, false, false)
	if err != nil {
		return err
	}
	return c.send(ctx, op, "/connections/"+escapePath(connectionID)+"/:send", q, msg)
}

// SendToGroup sends msg to every connection in group.
func (c *Client) SendToGroup(ctx context.Context, group string, msg Message, opts *SendOptions) error {
	const op = "SendToGroup"
	if err := checkGroup(op, group); err != nil {
		return err
	}
	q, err := sendQuery(op, opts, true, true)
	if err != nil {
		return err
	}
	return c.send(ctx, op, "/groups/"+escapePath(group)+"/:send", q, msg)
}

func (c *Client) send(ctx context.Context, op, path, query string, msg Message) error {
	if msg.err != nil {
		return fmt.Errorf("wps: %s: %w", op, msg.err)
	}
	body := msg.body
	if body == nil {
		body = []byte{}
	}
	return c.exec(ctx, &call{op: op, method: "POST", path: path, query: query, contentType: msg.ContentType(), body: body})
}

// sendQuery builds the query after api-version, in the order the REST API
// (and Microsoft's SDKs) write it: excluded, filter, messageTtlSeconds.
func sendQuery(op string, o *SendOptions, excluded, filter bool) (string, error) {
	if o == nil {
		return "", nil
	}
	var q queryBuilder
	if len(o.Excluded) > 0 {
		if !excluded {
			return "", fmt.Errorf("wps: %s: SendOptions.Excluded is not supported by this operation", op)
		}
		for _, id := range o.Excluded {
			q.add("excluded", id)
		}
	}
	if !o.Filter.IsZero() {
		if !filter {
			return "", fmt.Errorf("wps: %s: SendOptions.Filter is not supported by this operation", op)
		}
		if err := o.Filter.Err(); err != nil {
			return "", fmt.Errorf("wps: %s: %w", op, err)
		}
		q.add("filter", o.Filter.expr)
	}
	if o.MessageTTL != 0 {
		if o.MessageTTL < 0 || o.MessageTTL > MaxMessageTTL {
			return "", fmt.Errorf("wps: %s: SendOptions.MessageTTL %v is out of range (0 to %v)", op, o.MessageTTL, MaxMessageTTL)
		}
		secs := int64((o.MessageTTL + time.Second - 1) / time.Second)
		q.add("messageTtlSeconds", strconv.FormatInt(secs, 10))
	}
	return q.String(), nil
}
