package wps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// DefaultAPIVersion is the REST api-version a Client speaks unless
// ClientOptions.APIVersion says otherwise.
const DefaultAPIVersion = "2024-12-01"

// ClientOptions configures a Client. The zero value (or a nil pointer) is
// ready to use: each zero field means the default its comment names.
type ClientOptions struct {
	// HTTPClient sends the requests. Nil means a shared client whose transport
	// keeps enough idle connections for concurrent use and never follows
	// redirects (an answer that redirects is a *ResponseError).
	HTTPClient *http.Client
	// APIVersion is the api-version query parameter. Empty means
	// DefaultAPIVersion.
	APIVersion string
	// ReverseProxyEndpoint, when set (e.g. an Azure API Management gateway,
	// "https://apim.example.net"), is where requests are sent instead of the
	// service endpoint: its scheme, host and path prefix replace the
	// endpoint's. Tokens are still issued for the service's own URL. Empty
	// means requests go to the endpoint.
	ReverseProxyEndpoint string
	// ClientEndpoint, when set, is the base URL ClientAccessURL hands to
	// WebSocket clients instead of the service endpoint (the token's audience
	// stays the service's). Empty means the endpoint;
	// NewClientFromConnectionString takes it from the connection string's
	// ClientEndpoint unless set here.
	ClientEndpoint string
	// Retry bounds the retries of failed calls; its zero value means the
	// defaults (see RetryOptions).
	Retry RetryOptions
	// UserAgent, when set, is put before the library's own User-Agent.
	UserAgent string
	// Logger receives a debug line for each retry and a warning when a token
	// refresh fails while the previous token is still valid. Nil means
	// slog.Default(), looked up at each use.
	Logger *slog.Logger
	// InsecureAllowCredentialWithHTTP lets NewClient send Microsoft Entra ID
	// tokens to an http:// endpoint (or reverse proxy) that is not a loopback
	// address. False, the default, refuses such an endpoint at construction:
	// an Entra token is a bearer secret for the whole resource. Loopback
	// endpoints (an emulator on 127.0.0.1, ::1 or localhost) are always
	// allowed. Key-signed tokens are bound to one URL and unaffected.
	InsecureAllowCredentialWithHTTP bool
}

// Client calls the data-plane REST API of one hub of a Web PubSub resource.
// It is safe for concurrent use; create one per hub and reuse it.
type Client struct {
	endpoint       string // service base URL without trailing slash; used for token audiences
	clientEndpoint string // base URL for client access URLs
	hub            string
	apiVersion     string
	hubPath        string // "/api/hubs/<hub>", escaped
	sendAllAud     string // the URL of SendToAll without options, precomputed

	// where requests go: the endpoint's, or the reverse proxy's
	scheme, host, prefix string

	key *KeyCredential
	tc  azcore.TokenCredential

	hc        *http.Client
	retry     RetryOptions
	userAgent []string
	log       *slog.Logger // nil: slog.Default() at use
	now       func() time.Time

	tokens tokenCache
	aad    aadCache
}

// NewClient returns a Client for hub at endpoint (e.g.
// "https://x.webpubsub.azure.com") that authenticates with Microsoft Entra
// ID: cred is any azcore.TokenCredential, such as one from azidentity
// (NewManagedIdentityCredential, NewDefaultAzureCredential, ...). The Client
// asks cred for Scope and reuses the token until shortly before it expires
// (or its RefreshOn), so cred is not called per request. Client access
// tokens are then minted by the service (:generateToken). opts may be nil.
func NewClient(endpoint, hub string, cred azcore.TokenCredential, opts *ClientOptions) (*Client, error) {
	if cred == nil {
		return nil, errors.New("wps: NewClient: credential is nil")
	}
	c, err := newClient(endpoint, hub, opts)
	if err != nil {
		return nil, err
	}
	if opts == nil || !opts.InsecureAllowCredentialWithHTTP {
		if c.scheme == "http" && !isLoopback(c.host) {
			return nil, fmt.Errorf("wps: NewClient: refusing to send Entra ID tokens over plain http to %s (use https, or set ClientOptions.InsecureAllowCredentialWithHTTP)", c.host)
		}
	}
	c.tc = cred
	return c, nil
}

// NewClientWithKey returns a Client for hub at endpoint that signs each call
// with key, an access key of the resource (see NewKeyCredential; Update on
// it rotates the key while the Client is in use). opts may be nil.
func NewClientWithKey(endpoint, hub string, key *KeyCredential, opts *ClientOptions) (*Client, error) {
	if key == nil {
		return nil, errors.New("wps: NewClientWithKey: key is nil")
	}
	if key.Key() == "" {
		return nil, errEmptyKey
	}
	c, err := newClient(endpoint, hub, opts)
	if err != nil {
		return nil, err
	}
	c.key = key
	return c, nil
}

// NewClientFromConnectionString returns a Client for hub using the endpoint
// and access key of connStr (see ParseConnectionString). opts may be nil.
func NewClientFromConnectionString(connStr, hub string, opts *ClientOptions) (*Client, error) {
	cs, err := ParseConnectionString(connStr)
	if err != nil {
		return nil, err
	}
	return cs.NewClient(hub, opts)
}

// NewClient returns a Client for hub using the endpoint and access key of
// the parsed connection string cs, and its ClientEndpoint unless opts sets
// one. opts may be nil.
func (cs ConnectionString) NewClient(hub string, opts *ClientOptions) (*Client, error) {
	if cs.ClientEndpoint != "" && (opts == nil || opts.ClientEndpoint == "") {
		o := ClientOptions{}
		if opts != nil {
			o = *opts
		}
		o.ClientEndpoint = cs.ClientEndpoint
		opts = &o
	}
	return NewClientWithKey(cs.Endpoint, hub, NewKeyCredential(cs.AccessKey), opts)
}

// newClient checks what both kinds of Client share and builds one without
// a credential.
func newClient(endpoint, hub string, opts *ClientOptions) (*Client, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	if !ValidHub(hub) {
		return nil, fmt.Errorf("wps: hub name %q is not valid: it must start with a letter and have at most 128 letters, digits or _", shorten.String(hub, 140))
	}
	ep, err := normalizeEndpoint(endpoint, "")
	if err != nil {
		return nil, fmt.Errorf("wps: endpoint: %w", err)
	}
	retry, err := opts.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		endpoint:       ep,
		clientEndpoint: ep,
		hub:            hub,
		apiVersion:     opts.APIVersion,
		hc:             opts.HTTPClient,
		retry:          retry,
		log:            opts.Logger,
		now:            time.Now,
	}
	if c.apiVersion == "" {
		c.apiVersion = DefaultAPIVersion
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if opts.ClientEndpoint != "" {
		if c.clientEndpoint, err = normalizeEndpoint(opts.ClientEndpoint, ""); err != nil {
			return nil, fmt.Errorf("wps: client endpoint: %w", err)
		}
	}
	target := ep
	if opts.ReverseProxyEndpoint != "" {
		if target, err = normalizeEndpoint(opts.ReverseProxyEndpoint, ""); err != nil {
			return nil, fmt.Errorf("wps: reverse proxy endpoint: %w", err)
		}
	}
	u, _ := url.Parse(target) // normalizeEndpoint checked it
	// The path of the endpoint (rare) or of the proxy prefixes every request path.
	c.scheme, c.host, c.prefix = u.Scheme, u.Host, u.EscapedPath()
	c.hubPath = "/api/hubs/" + escapePath(hub)
	c.sendAllAud = c.endpoint + c.hubPath + "/:send?api-version=" + escapeQuery(c.apiVersion)
	ua := "wpsfn-wps/1 (" + goVersion() + ")"
	if opts.UserAgent != "" {
		ua = opts.UserAgent + " " + ua
	}
	c.userAgent = []string{ua}
	return c, nil
}

// isLoopback reports whether host (host[:port]) names this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// logger returns the Logger of the options, or slog.Default() now.
func (c *Client) logger() *slog.Logger {
	if c.log != nil {
		return c.log
	}
	return slog.Default()
}

// Hub returns the hub the Client is for.
func (c *Client) Hub() string { return c.hub }

// Endpoint returns the service endpoint, e.g. "https://x.webpubsub.azure.com".
func (c *Client) Endpoint() string { return c.endpoint }

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

// defaultHTTPClient is shared by Clients without their own, so connections are
// reused across them. Go's default of 2 idle connections per host would make
// concurrent senders open and close a connection for most calls.
func defaultHTTPClient() *http.Client {
	defaultClientOnce.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 512
		t.MaxIdleConnsPerHost = 256
		t.IdleConnTimeout = 90 * time.Second
		t.ResponseHeaderTimeout = 60 * time.Second
		defaultClient = &http.Client{
			Transport: t,
			// The REST API does not redirect; an answer that does is reported
			// as a *ResponseError rather than followed with the token.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return defaultClient
}

// call is one REST operation, described once and attempted up to
// 1+MaxRetries times.
type call struct {
	op          string // method name, for errors and logs
	method      string
	path        string // escaped, after the hub path, e.g. "/:send"; or absolute (see abs)
	query       string // "&k=v..." after api-version, escaped
	abs         string // when set, the complete URL to call (a nextLink)
	contentType string
	accept      string
	body        []byte
	allow404    bool // HEAD existence checks: 404 is an answer, not an error
}

// audience returns the URL the call's token is issued for: the service URL,
// query included, as Microsoft's SDKs sign it.
func (c *Client) audience(cl *call) string {
	if cl.abs != "" {
		return cl.abs
	}
	if cl.path == "/:send" && cl.query == "" {
		return c.sendAllAud
	}
	return c.endpoint + c.hubPath + cl.path + "?api-version=" + escapeQuery(c.apiVersion) + cl.query
}

// request builds one attempt of cl for aud.
func (c *Client) request(ctx context.Context, cl *call, aud string, auth []string) (*http.Request, error) {
	rest := aud[len(c.endpoint):]
	path, rawQuery, _ := strings.Cut(rest, "?")
	req, err := http.NewRequestWithContext(ctx, cl.method, "", nil)
	if err != nil {
		return nil, err
	}
	opaque := path
	if c.prefix != "" {
		opaque = c.prefix + path
	}
	// The escaped path goes on the wire exactly as built, hence Opaque.
	*req.URL = url.URL{Scheme: c.scheme, Host: c.host, Opaque: opaque, RawQuery: rawQuery}
	req.Host = c.host
	h := req.Header
	h["Authorization"] = auth
	h["User-Agent"] = c.userAgent
	if cl.accept != "" {
		h["Accept"] = []string{cl.accept}
	}
	if cl.body != nil || cl.contentType != "" {
		body := cl.body
		req.ContentLength = int64(len(body))
		if len(body) > 0 {
			// io.NopCloser over a *bytes.Reader, which net/http recognises as an
			// in-memory body and writes with the headers in one syscall (a
			// body type of our own would cost a separate flush of the headers).
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		} else {
			req.Body = http.NoBody
			req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		}
		h["Content-Type"] = contentTypeHeader(cl.contentType)
	}
	return req, nil
}

var (
	ctJSON   = []string{ContentTypeJSON}
	ctText   = []string{ContentTypeText}
	ctBinary = []string{ContentTypeBinary}
)

func contentTypeHeader(ct string) []string {
	switch ct {
	case ContentTypeJSON:
		return ctJSON
	case ContentTypeText:
		return ctText
	case ContentTypeBinary, "":
		return ctBinary
	}
	return []string{ct}
}

// do performs cl, retrying as RetryOptions allow, and returns the answer when
// it is a success (or a 404 for existence checks). The caller closes its body.
func (c *Client) do(ctx context.Context, cl *call) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wps: %s: %w", cl.op, err)
	}
	aud := c.audience(cl)
	for attempt := 0; ; attempt++ {
		auth, err := c.authorization(ctx, aud)
		if err != nil {
			return nil, fmt.Errorf("wps: %s: %w", cl.op, err)
		}
		req, err := c.request(ctx, cl, aud, auth)
		if err != nil {
			return nil, fmt.Errorf("wps: %s: %w", cl.op, err)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("wps: %s: %w", cl.op, cerr)
			}
			err = c.networkError(cl, aud, err, auth)
			if attempt >= c.retry.MaxRetries {
				return nil, err
			}
			if werr := c.wait(ctx, cl, attempt+1, c.retry.backoff(attempt+1), 0, err); werr != nil {
				return nil, werr
			}
			continue
		}
		code := resp.StatusCode
		if code < 300 || (code == http.StatusNotFound && cl.allow404) {
			return resp, nil
		}
		if code == http.StatusUnauthorized && c.tc != nil {
			c.aad.invalidate(auth) // refused: the next call asks the credential again
		}
		if !retryableStatus(code) || attempt >= c.retry.MaxRetries {
			return nil, c.responseError(cl, aud, resp, auth)
		}
		d, asked := retryAfter(resp, c.now())
		if !asked {
			d = c.retry.backoff(attempt + 1)
		}
		d = min(d, c.retry.MaxDelay)
		rerr := c.responseError(cl, aud, resp, auth)
		if werr := c.wait(ctx, cl, attempt+1, d, code, rerr); werr != nil {
			return nil, werr
		}
	}
}

// responseError turns a failed answer to cl into a *ResponseError and closes
// its body.
func (c *Client) responseError(cl *call, aud string, resp *http.Response, auth []string) *ResponseError {
	return newResponseError(cl.op, cl.method, c.sentURL(aud), resp, auth[0][len("Bearer "):], c.key.Key())
}

// sentURL returns the URL a call for aud is sent to: aud itself, or its path
// and query under the reverse proxy.
func (c *Client) sentURL(aud string) string {
	return c.scheme + "://" + c.host + c.prefix + aud[len(c.endpoint):]
}

// wait sleeps d before retry number n, unless ctx ends first or would end
// before the retry could start, in which case it returns last (or ctx's error).
func (c *Client) wait(ctx context.Context, cl *call, n int, d time.Duration, status int, last error) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return last
	}
	c.logger().DebugContext(ctx, "wps: retrying", "op", cl.op, "retry", n, "status", status, "delay", d, "err", last)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wps: %s: %w", cl.op, ctx.Err())
	case <-t.C:
		return nil
	}
}

// networkError words a transport error as one line without the request's
// odd-looking opaque URL, and without secrets.
func (c *Client) networkError(cl *call, aud string, err error, auth []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if strings.Contains(msg, auth[0][len("Bearer "):]) || (c.key != nil && strings.Contains(msg, c.key.Key())) {
		return fmt.Errorf("wps: %s: %s %s: request failed", cl.op, cl.method, stripQuery(aud))
	}
	return fmt.Errorf("wps: %s: %s %s: %w", cl.op, cl.method, stripQuery(aud), err)
}

func stripQuery(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return u
}

// exec performs cl and discards a successful answer's body.
func (c *Client) exec(ctx context.Context, cl *call) error {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// exists performs a HEAD check: 2xx is true, 404 false.
func (c *Client) exists(ctx context.Context, cl *call) (bool, error) {
	cl.allow404 = true
	resp, err := c.do(ctx, cl)
	if err != nil {
		return false, err
	}
	drain(resp)
	return resp.StatusCode != http.StatusNotFound, nil
}

// drain reads a little of the body so the connection can be reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}
