package wps

import (
	"context"
	"fmt"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// Permission is a right a connection can be granted over groups.
type Permission string

// The permissions of the REST API.
const (
	// PermissionSendToGroup lets a connection send messages to a group.
	PermissionSendToGroup Permission = "sendToGroup"
	// PermissionJoinLeaveGroup lets a connection join and leave a group.
	PermissionJoinLeaveGroup Permission = "joinLeaveGroup"
)

// PermissionOptions are the optional parts of the permission calls.
type PermissionOptions struct {
	// TargetName is the group the permission is about. Empty means the
	// service's default (every group, for a grant).
	TargetName string
}

func (c *Client) permissionCall(op, connectionID string, p Permission, o *PermissionOptions) (*call, error) {
	if err := checkID(op, "connection id", connectionID); err != nil {
		return nil, err
	}
	if p != PermissionSendToGroup && p != PermissionJoinLeaveGroup {
		return nil, fmt.Errorf("wps: %s: unknown permission %q (want %q or %q)", op, shorten.String(string(p), 40), PermissionSendToGroup, PermissionJoinLeaveGroup)
	}
	var q queryBuilder
	if o != nil && o.TargetName != "" {
		q.add("targetName", o.TargetName)
	}
	return &call{op: op, path: "/permissions/" + escapePath(string(p)) + "/connections/" + escapePath(connectionID), query: q.String()}, nil
}

// GrantPermission grants the connection permission p.
func (c *Client) GrantPermission(ctx context.Context, connectionID string, p Permission, opts *PermissionOptions) error {
	cl, err := c.permissionCall("GrantPermission", connectionID, p, opts)
	if err != nil {
		return err
	}
	cl.method = "PUT"
	return c.exec(ctx, cl)
}

// RevokePermission takes permission p away from the connection.
func (c *Client) RevokePermission(ctx context.Context, connectionID string, p Permission, opts *PermissionOptions) error {
	cl, err := c.permissionCall("RevokePermission", connectionID, p, opts)
	if err != nil {
		return err
	}
	cl.method = "DELETE"
	return c.exec(ctx, cl)
}

// CheckPermission reports whether the connection has permission p.
func (c *Client) CheckPermission(ctx context.Context, connectionID string, p Permission, opts *PermissionOptions) (bool, error) {
	cl, err := c.permissionCall("CheckPermission", connectionID, p, opts)
	if err != nil {
		return false, err
	}
	cl.method = "HEAD"
	return c.exists(ctx, cl)
}
