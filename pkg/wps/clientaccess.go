package wps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultClientTokenExpiry is how long a client access token is valid unless
// ClientAccessOptions.Expiry says otherwise.
const DefaultClientTokenExpiry = 60 * time.Minute

// ClientProtocol selects which client endpoint a client access URL is for.
type ClientProtocol int

// The client protocols. The zero value is the Web PubSub WebSocket endpoint.
const (
	ProtocolDefault  ClientProtocol = iota // /client/hubs/{hub}: plain WebSocket and the json(.reliable).webpubsub subprotocols
	ProtocolMQTT                           // /clients/mqtt/hubs/{hub}
	ProtocolSocketIO                       // /clients/socketio/hubs/{hub}, for Web PubSub for Socket.IO resources
)

// String returns "default", "mqtt" or "socketio".
func (p ClientProtocol) String() string {
	switch p {
	case ProtocolDefault:
		return "default"
	case ProtocolMQTT:
		return "mqtt"
	case ProtocolSocketIO:
		return "socketio"
	}
	return "ClientProtocol(" + strconv.Itoa(int(p)) + ")"
}

// ClientPath returns the path of p's client endpoint for hub, without a
// leading slash, e.g. "client/hubs/chat".
func (p ClientProtocol) ClientPath(hub string) string {
	switch p {
	case ProtocolMQTT:
		return "clients/mqtt/hubs/" + hub
	case ProtocolSocketIO:
		return "clients/socketio/hubs/" + hub
	}
	return "client/hubs/" + hub
}

// ClientAccessOptions describe the client a ClientAccessURL is for.
type ClientAccessOptions struct {
	// UserID is the user the connection belongs to (the token's "sub");
	// empty means an anonymous connection.
	UserID string
	// Roles are the permissions the connection gets, e.g.
	// RoleJoinLeaveGroup("room1") or RoleSendToGroupAny; none by default.
	// An empty role makes the call fail.
	Roles []string
	// Groups are joined on connect; none by default. An invalid group name
	// makes the call fail.
	Groups []string
	// Expiry is how long the token is valid. Zero means
	// DefaultClientTokenExpiry; negative makes the call fail. With a token
	// credential the service takes whole minutes (at least one).
	Expiry time.Duration
	// Protocol selects the client endpoint; the zero value is
	// ProtocolDefault.
	Protocol ClientProtocol
}

// ClientAccess is what a client needs to connect.
type ClientAccess struct {
	// Token is the client access token (a JWT).
	Token string
	// BaseURL is the WebSocket URL of the client endpoint, without the token,
	// e.g. "wss://x.webpubsub.azure.com/client/hubs/chat".
	BaseURL string
	// URL is BaseURL with the token as the access_token query parameter.
	URL string
}

// ClientClaims is the claim set of a client access token. ClientAccessURL
// writes it; a service side (such as an emulator) can read one with
// jwt.ParseWithClaims. The field order is the JavaScript SDK's.
type ClientClaims struct {
	// Roles are the connection's permissions ("role", an array).
	Roles []string `json:"role,omitempty"`
	// Groups are joined on connect ("webpubsub.group", an array).
	Groups    []string         `json:"webpubsub.group,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	// Audience is the client endpoint with the http(s) scheme and no query,
	// e.g. "https://x.webpubsub.azure.com/client/hubs/chat".
	Audience string `json:"aud,omitempty"`
	// Subject is the user id ("sub"), empty for an anonymous connection.
	Subject string `json:"sub,omitempty"`
}

// GetExpirationTime implements jwt.Claims.
func (c *ClientClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims.
func (c *ClientClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt, nil }

// GetNotBefore implements jwt.Claims.
func (c *ClientClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *ClientClaims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *ClientClaims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *ClientClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// ClientAccessURL returns a URL a client connects with. A Client with a key
// signs the token locally (HS256); one with an azcore.TokenCredential asks
// the service for it (the GenerateClientToken operation, POST
// /api/hubs/{hub}/:generateToken with the query parameters userId, role,
// minutesToExpire, group and clientType, as Microsoft's SDKs send them).
// Both return the same ClientAccess. opts may be nil.
func (c *Client) ClientAccessURL(ctx context.Context, opts *ClientAccessOptions) (ClientAccess, error) {
	const op = "ClientAccessURL"
	var o ClientAccessOptions
	if opts != nil {
		o = *opts
	}
	if o.Expiry < 0 {
		return ClientAccess{}, fmt.Errorf("wps: %s: Expiry %v is negative", op, o.Expiry)
	}
	if o.Expiry == 0 {
		o.Expiry = DefaultClientTokenExpiry
	}
	if o.Protocol < ProtocolDefault || o.Protocol > ProtocolSocketIO {
		return ClientAccess{}, fmt.Errorf("wps: %s: unknown protocol %v", op, o.Protocol)
	}
	for _, g := range o.Groups {
		if err := checkGroup(op, g); err != nil {
			return ClientAccess{}, err
		}
	}
	for _, r := range o.Roles {
		if r == "" {
			return ClientAccess{}, fmt.Errorf("wps: %s: empty role", op)
		}
	}
	path := o.Protocol.ClientPath(c.hub)
	var token string
	if c.key != nil {
		now := c.now()
		claims := &ClientClaims{
			Roles:     o.Roles,
			Groups:    o.Groups,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(o.Expiry)),
			Audience:  c.endpoint + "/" + path,
			Subject:   o.UserID,
		}
		var err error
		token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(c.key.Key()))
		if err != nil {
			return ClientAccess{}, fmt.Errorf("wps: %s: signing: %w", op, err)
		}
	} else {
		var err error
		if token, err = c.generateToken(ctx, &o); err != nil {
			return ClientAccess{}, err
		}
	}
	base := wsURL(c.clientEndpoint) + "/" + path
	return ClientAccess{Token: token, BaseURL: base, URL: base + "?access_token=" + escapeQuery(token)}, nil
}

// wsURL swaps an http(s) URL's scheme for ws(s).
func wsURL(u string) string {
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "ws://" + rest
	}
	return u
}

// generateToken asks the service for a client token.
func (c *Client) generateToken(ctx context.Context, o *ClientAccessOptions) (string, error) {
	const op = "GenerateClientToken"
	var q queryBuilder
	if o.UserID != "" {
		q.add("userId", o.UserID)
	}
	for _, r := range o.Roles {
		q.add("role", r)
	}
	q.add("minutesToExpire", strconv.FormatInt(max(int64(o.Expiry/time.Minute), 1), 10))
	for _, g := range o.Groups {
		q.add("group", g)
	}
	if o.Protocol != ProtocolDefault {
		q.add("clientType", o.Protocol.String())
	}
	resp, err := c.do(ctx, &call{op: op, method: "POST", path: "/:generateToken", query: q.String(), accept: "application/json, text/json"})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)) // a token answer is as small as an error
	if err != nil {
		return "", fmt.Errorf("wps: %s: reading the answer: %w", op, err)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return "", fmt.Errorf("wps: %s: malformed :generateToken answer", op)
	}
	if body.Token == "" {
		return "", fmt.Errorf("wps: %s: %w", op, errors.New(":generateToken answered without a token"))
	}
	return body.Token, nil
}
