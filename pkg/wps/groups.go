package wps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strconv"
	"strings"
)

// AddConnectionToGroup adds a connection to group.
func (c *Client) AddConnectionToGroup(ctx context.Context, group, connectionID string) error {
	const op = "AddConnectionToGroup"
	cl, err := groupConnectionCall(op, "PUT", group, connectionID)
	if err != nil {
		return err
	}
	return c.exec(ctx, cl)
}

// RemoveConnectionFromGroup removes a connection from group.
func (c *Client) RemoveConnectionFromGroup(ctx context.Context, group, connectionID string) error {
	const op = "RemoveConnectionFromGroup"
	cl, err := groupConnectionCall(op, "DELETE", group, connectionID)
	if err != nil {
		return err
	}
	return c.exec(ctx, cl)
}

func groupConnectionCall(op, method, group, connectionID string) (*call, error) {
	if err := checkGroup(op, group); err != nil {
		return nil, err
	}
	if err := checkID(op, "connection id", connectionID); err != nil {
		return nil, err
	}
	return &call{op: op, method: method, path: "/groups/" + escapePath(group) + "/connections/" + escapePath(connectionID)}, nil
}

// AddUserToGroup adds the user userID (all of the user's connections) to group.
func (c *Client) AddUserToGroup(ctx context.Context, group, userID string) error {
	cl, err := userGroupCall("AddUserToGroup", "PUT", group, userID)
	if err != nil {
		return err
	}
	return c.exec(ctx, cl)
}

// RemoveUserFromGroup removes the user userID from group.
func (c *Client) RemoveUserFromGroup(ctx context.Context, group, userID string) error {
	cl, err := userGroupCall("RemoveUserFromGroup", "DELETE", group, userID)
	if err != nil {
		return err
	}
	return c.exec(ctx, cl)
}

func userGroupCall(op, method, group, userID string) (*call, error) {
	if err := checkGroup(op, group); err != nil {
		return nil, err
	}
	if err := checkID(op, "user id", userID); err != nil {
		return nil, err
	}
	return &call{op: op, method: method, path: "/users/" + escapePath(userID) + "/groups/" + escapePath(group)}, nil
}

// RemoveUserFromAllGroups removes the user userID from every group.
func (c *Client) RemoveUserFromAllGroups(ctx context.Context, userID string) error {
	const op = "RemoveUserFromAllGroups"
	if err := checkID(op, "user id", userID); err != nil {
		return err
	}
	return c.exec(ctx, &call{op: op, method: "DELETE", path: "/users/" + escapePath(userID) + "/groups"})
}

// RemoveConnectionFromAllGroups removes a connection from every group.
func (c *Client) RemoveConnectionFromAllGroups(ctx context.Context, connectionID string) error {
	const op = "RemoveConnectionFromAllGroups"
	if err := checkID(op, "connection id", connectionID); err != nil {
		return err
	}
	return c.exec(ctx, &call{op: op, method: "DELETE", path: "/connections/" + escapePath(connectionID) + "/groups"})
}

// AddConnectionsToGroups adds every connection that matches filter to each
// of groups. The zero Filter matches every connection of the hub.
func (c *Client) AddConnectionsToGroups(ctx context.Context, groups []string, filter Filter) error {
	return c.groupsCall(ctx, "AddConnectionsToGroups", "/:addToGroups", groups, filter)
}

// RemoveConnectionsFromGroups removes every connection that matches filter
// from each of groups. The zero Filter matches every connection of the hub.
func (c *Client) RemoveConnectionsFromGroups(ctx context.Context, groups []string, filter Filter) error {
	return c.groupsCall(ctx, "RemoveConnectionsFromGroups", "/:removeFromGroups", groups, filter)
}

func (c *Client) groupsCall(ctx context.Context, op, path string, groups []string, filter Filter) error {
	if err := filter.Err(); err != nil {
		return fmt.Errorf("wps: %s: %w", op, err)
	}
	if len(groups) == 0 {
		return fmt.Errorf("wps: %s: no groups given", op)
	}
	for _, g := range groups {
		if err := checkGroup(op, g); err != nil {
			return err
		}
	}
	body := struct {
		Groups []string `json:"groups"`
		Filter string   `json:"filter,omitempty"`
	}{groups, filter.expr}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as JSON.stringify writes it
	if err := enc.Encode(body); err != nil {
		return fmt.Errorf("wps: %s: %w", op, err)
	}
	return c.exec(ctx, &call{op: op, method: "POST", path: path, contentType: ContentTypeJSON, body: bytes.TrimSuffix(b.Bytes(), []byte("\n"))})
}

// GroupMember is one connection in a group, as ListConnectionsInGroup yields it.
type GroupMember struct {
	ConnectionID string `json:"connectionId"`
	UserID       string `json:"userId,omitempty"`
}

// ListOptions are the optional parts of ListConnectionsInGroup.
type ListOptions struct {
	// MaxPageSize is how many members the service returns per page (1 to
	// 200); zero leaves it to the service. Out of range, the iteration
	// yields an error.
	MaxPageSize int
	// Top is the most members returned in all; zero means all. Negative, the
	// iteration yields an error.
	Top int
}

// maxListPage bounds the size of one page of a list answer.
const maxListPage = 16 << 20

// ListConnectionsInGroup returns an iterator over the connections in group,
// fetching pages as it goes (following the service's nextLink). An error ends
// the iteration, yielded as the last pair's error.
func (c *Client) ListConnectionsInGroup(ctx context.Context, group string, opts *ListOptions) iter.Seq2[GroupMember, error] {
	const op = "ListConnectionsInGroup"
	return func(yield func(GroupMember, error) bool) {
		if err := checkGroup(op, group); err != nil {
			yield(GroupMember{}, err)
			return
		}
		var q queryBuilder
		if opts != nil {
			if opts.MaxPageSize < 0 || opts.MaxPageSize > 200 || opts.Top < 0 {
				yield(GroupMember{}, fmt.Errorf("wps: %s: ListOptions out of range (MaxPageSize 0 to 200, Top ≥ 0)", op))
				return
			}
			if opts.MaxPageSize > 0 {
				q.add("maxpagesize", strconv.Itoa(opts.MaxPageSize))
			}
			if opts.Top > 0 {
				q.add("top", strconv.Itoa(opts.Top))
			}
		}
		cl := &call{op: op, method: "GET", path: "/groups/" + escapePath(group) + "/connections", query: q.String(), accept: ContentTypeJSON}
		for page := 0; ; page++ {
			members, next, err := c.listPage(ctx, cl)
			if err != nil {
				yield(GroupMember{}, err)
				return
			}
			for _, m := range members {
				if !yield(m, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			abs, err := c.resolveNextLink(next)
			if err == nil && abs == cl.abs { // no progress: it would page forever
				err = errors.New("nextLink repeats the page just fetched")
			}
			if err != nil {
				yield(GroupMember{}, fmt.Errorf("wps: %s: %w", op, err))
				return
			}
			cl = &call{op: op, method: "GET", abs: abs, accept: ContentTypeJSON}
		}
	}
}

func (c *Client) listPage(ctx context.Context, cl *call) ([]GroupMember, string, error) {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxListPage+1))
	if err != nil {
		return nil, "", fmt.Errorf("wps: %s: reading the answer: %w", cl.op, err)
	}
	if len(data) > maxListPage {
		return nil, "", fmt.Errorf("wps: %s: answer larger than %d bytes", cl.op, maxListPage)
	}
	var page struct {
		Value    []GroupMember `json:"value"`
		NextLink string        `json:"nextLink"`
	}
	if err := json.Unmarshal(data, &page); err != nil {
		return nil, "", fmt.Errorf("wps: %s: malformed answer: %w", cl.op, err)
	}
	return page.Value, page.NextLink, nil
}

// resolveNextLink turns a page's nextLink into the URL of the next call. It
// must point at the service endpoint: the call carries a token, which must
// not go anywhere else. An api-version is added when the link has none.
func (c *Client) resolveNextLink(next string) (string, error) {
	u, _ := url.Parse(c.endpoint) // checked by NewClient
	origin := u.Scheme + "://" + u.Host
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") {
		next = origin + next
	}
	if len(next) <= len(c.endpoint) || !strings.EqualFold(next[:len(c.endpoint)], c.endpoint) || next[len(c.endpoint)] != '/' {
		return "", errors.New("nextLink does not point at the service endpoint")
	}
	next = c.endpoint + next[len(c.endpoint):]
	if strings.ContainsAny(next, " \r\n#") {
		return "", errors.New("nextLink is not a valid URL")
	}
	path, query, _ := strings.Cut(next, "?")
	if !hasQueryKey(query, "api-version") {
		v := "api-version=" + escapeQuery(c.apiVersion)
		if query != "" {
			v += "&" + query
		}
		query = v
	}
	return path + "?" + query, nil
}

func hasQueryKey(query, key string) bool {
	for kv := range strings.SplitSeq(query, "&") {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}
