package wps

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ConnectionString is a parsed Web PubSub connection string, as shown on the
// resource's Keys page: "Endpoint=https://x.webpubsub.azure.com;AccessKey=...;Version=1.0;".
type ConnectionString struct {
	// Endpoint is the service's base URL with scheme and host (and the Port key
	// folded in), without a trailing slash.
	Endpoint string
	// AccessKey signs REST calls and client tokens. Its ASCII bytes are the HMAC key.
	AccessKey string
	// Version is carried for completeness; the service ignores it.
	Version string
	// ClientEndpoint, when set, is the base URL handed to clients instead of Endpoint
	// (for example when clients reach the service through a different host).
	ClientEndpoint string
}

// String formats the connection string back, key included. Do not log it.
func (c ConnectionString) String() string {
	var b strings.Builder
	b.WriteString("Endpoint=" + c.Endpoint + ";AccessKey=" + c.AccessKey + ";")
	if c.Version != "" {
		b.WriteString("Version=" + c.Version + ";")
	}
	if c.ClientEndpoint != "" {
		b.WriteString("ClientEndpoint=" + c.ClientEndpoint + ";")
	}
	return b.String()
}

// ParseConnectionString parses s. Keys are case-insensitive, segments are
// separated by ';', whitespace around keys and values and a trailing ';' are
// tolerated, and a value may itself contain '='. Port, when present, replaces
// the endpoint's port; the host is lower-cased and a default port dropped. Errors name what is wrong but never contain the key.
func ParseConnectionString(s string) (ConnectionString, error) {
	var c ConnectionString
	var port string
	var problem error // the first malformed segment; reported once the key is known
	seen := map[string]bool{}
	n := 0
	for seg := range strings.SplitSeq(s, ";") {
		seg = strings.TrimSpace(seg)
		if seg == "" {
			continue
		}
		n++
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			if problem == nil {
				problem = fmt.Errorf("wps: connection string: segment %d has no '='", n)
			}
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if seen[k] && problem == nil {
			problem = fmt.Errorf("wps: connection string: key %q appears twice", k)
		}
		seen[k] = true
		switch k {
		case "endpoint":
			c.Endpoint = v
		case "accesskey":
			c.AccessKey = v
		case "version":
			c.Version = v
		case "port":
			port = v
		case "clientendpoint":
			c.ClientEndpoint = v
		}
	}
	if problem != nil {
		if c.AccessKey != "" && strings.Contains(problem.Error(), c.AccessKey) {
			return ConnectionString{}, errors.New("wps: connection string: malformed (a segment has no '=' or a key appears twice)")
		}
		return ConnectionString{}, problem
	}
	if c.Endpoint == "" {
		return ConnectionString{}, errors.New("wps: connection string: Endpoint is missing")
	}
	if c.AccessKey == "" {
		return ConnectionString{}, errors.New("wps: connection string: AccessKey is missing")
	}
	ep, err := normalizeEndpoint(c.Endpoint, port)
	if err != nil {
		return ConnectionString{}, keyless("Endpoint", err, c.AccessKey)
	}
	c.Endpoint = ep
	if c.ClientEndpoint != "" {
		if c.ClientEndpoint, err = normalizeEndpoint(c.ClientEndpoint, ""); err != nil {
			return ConnectionString{}, keyless("ClientEndpoint", err, c.AccessKey)
		}
	}
	return c, nil
}

// keyless words an error about field, quoting the bad value only if that
// cannot reveal the key (a garbled string may put the key where a URL belongs).
func keyless(field string, err error, key string) error {
	if strings.Contains(err.Error(), key) {
		return fmt.Errorf("wps: connection string: %s is not an absolute http or https URL", field)
	}
	return fmt.Errorf("wps: connection string: %s: %w", field, err)
}

// normalizeEndpoint checks that ep is an absolute http(s) URL with a host,
// applies port when given, and drops a trailing slash.
func normalizeEndpoint(ep, port string) (string, error) {
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an absolute http or https URL", ep)
	}
	if u.User != nil {
		return "", errors.New("the URL must not carry user info")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q must not carry a query or a fragment", ep)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("Port %q is not a number from 1 to 65535", port)
		}
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(n))
	}
	// Normalize as a WHATWG URL parser does (and so Microsoft's JavaScript
	// SDK, whose token audiences are built from such URLs): lower-case host,
	// no default port.
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return strings.TrimRight(u.Scheme+"://"+host+u.EscapedPath(), "/"), nil
}
