// Package negotiate is the negotiate function: a browser or app asks it for
// the URL to open a WebSocket to the hub with.
//
//	GET /   Authorization: Bearer <the application's HS256 JWT; sub = user id>
//	→ 200 {"url":"wss://…/client/hubs/<hub>?access_token=…","baseUrl":"wss://…/client/hubs/<hub>","token":"…"}
//
// The answer has the shape of Microsoft's SDKs' getClientAccessToken. Only
// when NEGOTIATE_ALLOW_QUERY_USER=true (local development: anyone can claim
// any user) a request without a bearer token may name its user with
// ?userId=<name>. The client token carries the configured roles and groups.
// Browser pages on other origins are served through CORS when their origin
// is configured.
package negotiate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/wpsfn/wpsfn/functions/internal/bearer"
	"github.com/wpsfn/wpsfn/functions/internal/fnconf"
	"github.com/wpsfn/wpsfn/functions/internal/ident"
	"github.com/wpsfn/wpsfn/functions/internal/reply"
	"github.com/wpsfn/wpsfn/pkg/wps"
)

// Response is the negotiate answer.
type Response struct {
	URL     string `json:"url"`
	BaseURL string `json:"baseUrl"`
	Token   string `json:"token"`
}

// accessor is the part of *wps.Client the function uses.
type accessor interface {
	ClientAccessURL(ctx context.Context, opts *wps.ClientAccessOptions) (wps.ClientAccess, error)
}

type handler struct {
	cfg    Config
	client accessor
	auth   *bearer.Verifier    // nil when neither a JWT secret nor OIDC is configured
	roles  map[string][]string // roles claim value → Web PubSub roles
	groups map[string][]string // roles claim value → groups
	log    *slog.Logger
}

// New returns the negotiate function.
func New(cfg Config) (http.Handler, error) {
	s, err := fnconf.Start("negotiate", cfg.validate, &cfg.Identity, cfg.Hub, wps.ClientOptions{HTTPClient: cfg.HTTPClient, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	log := s.Log
	h := &handler{cfg: cfg, client: s.Client, log: log}
	if cfg.JWTSecret != "" || bearer.OIDCEnabled(&cfg.OIDC) {
		h.auth, err = bearer.WithOIDC("negotiate", &bearer.Verifier{JWTSecret: cfg.JWTSecret, Issuer: cfg.JWTIssuer,
			Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway, RequireSubject: true, Now: cfg.Now}, &cfg.OIDC, log, cfg.HTTPClient)
		if err != nil {
			return nil, err
		}
	}
	h.roles, _ = parseMap(cfg.RoleMap) // validated above
	h.groups, _ = parseMap(cfg.GroupMap)
	if cfg.AllowQueryUser {
		log.Warn("NEGOTIATE_ALLOW_QUERY_USER is on: any caller may claim any user id; use it for local development only")
	}
	return h, nil
}

const allowedMethods = "GET, OPTIONS"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	allowed := h.cors(w, origin)
	switch r.Method {
	case http.MethodOptions:
		if origin != "" && !allowed {
			reply.Refuse(h.log, "negotiate refused", w, r, http.StatusForbidden, "origin not allowed")
			return
		}
		w.Header().Set("Access-Control-Allow-Methods", allowedMethods)
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.Header().Set("Allow", allowedMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet:
	default:
		w.Header().Set("Allow", allowedMethods)
		reply.Refuse(h.log, "negotiate refused", w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use GET")
		return
	}
	user, how, claimed, status, reason := h.user(r)
	if status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="negotiate"`)
		}
		reply.Refuse(h.log, "negotiate refused", w, r, status, reason)
		return
	}
	ca, err := h.client.ClientAccessURL(r.Context(), &wps.ClientAccessOptions{
		UserID: user,
		Roles:  mapped(h.cfg.Roles, h.roles, claimed),
		Groups: mapped(h.cfg.Groups, h.groups, claimed),
		Expiry: h.cfg.TokenLifetime,
	})
	if err != nil {
		h.log.Error("client access token failed", "user", user, "err", err)
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		reply.Error(w, status, "the client access token could not be made")
		return
	}
	h.log.Info("negotiated", "user", user, "auth", how, "origin", origin)
	reply.JSON(w, http.StatusOK, Response{URL: ca.URL, BaseURL: ca.BaseURL, Token: ca.Token})
}

// user finds who the caller is: the bearer JWT's user (sub, or the OIDC
// user claim) and the values of its roles claim, or (development only) the
// userId query parameter. status is non-zero on failure.
func (h *handler) user(r *http.Request) (user, how string, roles []string, status int, reason string) {
	if r.Header.Get("Authorization") != "" || !h.cfg.AllowQueryUser {
		if h.auth == nil {
			return "", "", nil, http.StatusUnauthorized, "bearer tokens are not accepted here; use ?userId="
		}
		id, err := h.auth.Verify(r)
		if err != nil {
			var be *bearer.Error
			switch {
			case errors.As(err, &be) && be.Forbidden:
				return "", "", nil, http.StatusForbidden, be.Reason
			case errors.As(err, &be):
				return "", "", nil, http.StatusUnauthorized, be.Reason
			}
			return "", "", nil, http.StatusUnauthorized, "unauthorized"
		}
		if err := validUser(id.Subject); err != nil {
			return "", "", nil, http.StatusUnauthorized, "token user id " + err.Error()
		}
		return id.Subject, id.Method, id.Roles, 0, ""
	}
	q := r.URL.Query()["userId"]
	switch {
	case len(q) == 0:
		return "", "", nil, http.StatusBadRequest, "userId query parameter is required"
	case len(q) > 1:
		return "", "", nil, http.StatusBadRequest, "userId query parameter is given more than once"
	}
	if err := validUser(q[0]); err != nil {
		return "", "", nil, http.StatusBadRequest, "userId " + err.Error()
	}
	return q[0], "query", nil, 0, ""
}

// cors sets the CORS answer headers for an allowed origin and reports
// whether origin is allowed.
func (h *handler) cors(w http.ResponseWriter, origin string) bool {
	if len(h.cfg.AllowedOrigins) == 0 {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if origin == "" {
		return false
	}
	switch {
	case slices.Contains(h.cfg.AllowedOrigins, "*"):
		w.Header().Set("Access-Control-Allow-Origin", "*")
	case slices.ContainsFunc(h.cfg.AllowedOrigins, func(o string) bool { return strings.EqualFold(o, origin) }):
		w.Header().Set("Access-Control-Allow-Origin", origin)
	default:
		return false
	}
	return true
}

// validUser checks a user id.
func validUser(u string) error { return ident.Check(u, 256) }

// mapped returns base plus the targets m maps claimed values to, once each.
func mapped(base []string, m map[string][]string, claimed []string) []string {
	if len(m) == 0 || len(claimed) == 0 {
		return base
	}
	out := slices.Clone(base)
	for _, c := range claimed {
		for _, t := range m[c] {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
