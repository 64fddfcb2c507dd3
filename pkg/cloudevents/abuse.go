package cloudevents

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// serveValidation answers the abuse-protection handshake: OPTIONS (or GET)
// with WebHook-Request-Origin. An allowed origin (any, when AllowedOrigins is
// empty) gets 200 with WebHook-Allowed-Origin; a missing or other origin 400.
func (h *Handler) serveValidation(w http.ResponseWriter, r *http.Request, c *config) {
	origin := header(r.Header, HeaderRequestOrigin)
	if origin == "" {
		h.refuse(w, r, http.StatusBadRequest, "missing WebHook-Request-Origin header")
		return
	}
	if len(c.origins) == 0 {
		w.Header()[HeaderAllowedOrigin] = []string{"*"}
		w.WriteHeader(http.StatusOK)
		return
	}
	for o := range strings.SplitSeq(origin, ",") {
		o = strings.TrimSpace(o)
		for _, allowed := range c.origins {
			if strings.EqualFold(o, allowed) {
				w.Header()[HeaderAllowedOrigin] = []string{o}
				w.WriteHeader(http.StatusOK)
				return
			}
		}
	}
	h.refuse(w, r, http.StatusBadRequest, "origin "+strconv.Quote(clip(origin))+" is not allowed")
}

// originHost reduces an allowed origin, a host or a URL, to its lower-case host.
func originHost(o string) string {
	o = strings.TrimSpace(o)
	if strings.Contains(o, "://") {
		u, err := url.Parse(o)
		if err != nil {
			return ""
		}
		o = u.Host
	}
	return strings.ToLower(strings.TrimSuffix(o, "/"))
}
