package wps

import "context"

// CloseOptions are the optional parts of CloseAllConnections,
// CloseUserConnections and CloseGroupConnections.
type CloseOptions struct {
	// Excluded lists connection ids to keep open.
	Excluded []string
	// Reason is sent to the closed clients; empty sends none.
	Reason string
}

// CloseConnectionOptions are the optional parts of CloseConnection.
type CloseConnectionOptions struct {
	// Reason is sent to the client; empty sends none.
	Reason string
}

func closeQuery(o *CloseOptions) string {
	if o == nil {
		return ""
	}
	var q queryBuilder
	for _, id := range o.Excluded {
		q.add("excluded", id)
	}
	if o.Reason != "" {
		q.add("reason", o.Reason)
	}
	return q.String()
}

// CloseConnection closes one connection. opts may be nil.
func (c *Client) CloseConnection(ctx context.Context, connectionID string, opts *CloseConnectionOptions) error {
	const op = "CloseConnection"
	if err := checkID(op, "connection id", connectionID); err != nil {
		return err
	}
	var q queryBuilder
	if opts != nil && opts.Reason != "" {
		q.add("reason", opts.Reason)
	}
	return c.exec(ctx, &call{op: op, method: "DELETE", path: "/connections/" + escapePath(connectionID), query: q.String()})
}

// CloseAllConnections closes every connection of the hub.
func (c *Client) CloseAllConnections(ctx context.Context, opts *CloseOptions) error {
	return c.exec(ctx, &call{op: "CloseAllConnections", method: "POST", path: "/:closeConnections", query: closeQuery(opts)})
}

// CloseUserConnections closes every connection of the user userID.
func (c *Client) CloseUserConnections(ctx context.Context, userID string, opts *CloseOptions) error {
	const op = "CloseUserConnections"
	if err := checkID(op, "user id", userID); err != nil {
		return err
	}
	return c.exec(ctx, &call{op: op, method: "POST", path: "/users/" + escapePath(userID) + "/:closeConnections", query: closeQuery(opts)})
}

// CloseGroupConnections closes every connection in group.
func (c *Client) CloseGroupConnections(ctx context.Context, group string, opts *CloseOptions) error {
	const op = "CloseGroupConnections"
	if err := checkGroup(op, group); err != nil {
		return err
	}
	return c.exec(ctx, &call{op: op, method: "POST", path: "/groups/" + escapePath(group) + "/:closeConnections", query: closeQuery(opts)})
}

// ConnectionExists reports whether the connection is open.
func (c *Client) ConnectionExists(ctx context.Context, connectionID string) (bool, error) {
	const op = "ConnectionExists"
	if err := checkID(op, "connection id", connectionID); err != nil {
		return false, err
	}
	return c.exists(ctx, &call{op: op, method: "HEAD", path: "/connections/" + escapePath(connectionID)})
}

// UserExists reports whether the user has any open connection.
func (c *Client) UserExists(ctx context.Context, userID string) (bool, error) {
	const op = "UserExists"
	if err := checkID(op, "user id", userID); err != nil {
		return false, err
	}
	return c.exists(ctx, &call{op: op, method: "HEAD", path: "/users/" + escapePath(userID)})
}

// GroupExists reports whether group has any connection.
func (c *Client) GroupExists(ctx context.Context, group string) (bool, error) {
	const op = "GroupExists"
	if err := checkGroup(op, group); err != nil {
		return false, err
	}
	return c.exists(ctx, &call{op: op, method: "HEAD", path: "/groups/" + escapePath(group)})
}
