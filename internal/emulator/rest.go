package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/wpsfn/wpsfn/pkg/wps"
)

// The REST data plane (api-version 2024-12-01), authenticated like the
// service: "Authorization: Bearer <JWT>", HS256 with either access key, aud
// the request URL with or without its query. Errors are the service's flat
// JSON body {code, message, target, details, innererror} with x-ms-error-code.

// maxRESTBody is the largest message a send accepts (the service documents
// none; Azure SignalR's is 1 MB and so is the client frame limit).
const maxRESTBody = 1 << 20

// restCall is one REST request to a hub's operation.
type restCall struct {
	s *Server
	w http.ResponseWriter
	r *http.Request
	h *hub
}

// restHandler serves /api/: the operations as ServeMux patterns, each with
// its path values, behind the checks every hub operation makes first
// (hubOp); the REST trace entry for each call.
func (s *Server) restHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.health) // and HEAD
	mux.HandleFunc("/api/health", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, codeMethod, "Use HEAD /api/health.")
	})
	op := func(pattern string, f func(rc *restCall)) { mux.Handle(pattern, s.hubOp(f)) }
	const hub = "/api/hubs/{hub}"
	op("POST "+hub+"/:send", func(rc *restCall) { rc.send(&selector{all: true}, true) })
	op("POST "+hub+"/:closeConnections", func(rc *restCall) { rc.closeConns(&selector{all: true}, true) })
	op("POST "+hub+"/:generateToken", (*restCall).generateToken)
	op("POST "+hub+"/:addToGroups", func(rc *restCall) { rc.groupsByFilter(true) })
	op("POST "+hub+"/:removeFromGroups", func(rc *restCall) { rc.groupsByFilter(false) })

	op("POST "+hub+"/connections/{connectionId}/:send", func(rc *restCall) {
		rc.send(&selector{connection: rc.r.PathValue("connectionId")}, false)
	})
	op("DELETE "+hub+"/connections/{connectionId}", func(rc *restCall) {
		rc.closeConns(&selector{connection: rc.r.PathValue("connectionId")}, false)
	})
	op("HEAD "+hub+"/connections/{connectionId}", func(rc *restCall) {
		rc.exists(rc.h.conn(rc.r.PathValue("connectionId")) != nil, codeConnNotExists)
	})
	op("DELETE "+hub+"/connections/{connectionId}/groups", func(rc *restCall) {
		if c := rc.h.conn(rc.r.PathValue("connectionId")); c != nil {
			rc.h.leaveAll(c)
		}
		rc.w.WriteHeader(http.StatusNoContent)
	})

	op("POST "+hub+"/users/{userId}/:send", func(rc *restCall) {
		rc.send(&selector{user: rc.r.PathValue("userId")}, false)
	})
	op("POST "+hub+"/users/{userId}/:closeConnections", func(rc *restCall) {
		rc.closeConns(&selector{user: rc.r.PathValue("userId")}, true)
	})
	op("HEAD "+hub+"/users/{userId}", func(rc *restCall) {
		rc.exists(len(rc.h.selected(&selector{user: rc.r.PathValue("userId")})) > 0, codeUserNotExists)
	})
	op("PUT "+hub+"/users/{userId}/groups/{group}", func(rc *restCall) { rc.userGroup(true) })
	op("DELETE "+hub+"/users/{userId}/groups/{group}", func(rc *restCall) { rc.userGroup(false) })
	op("DELETE "+hub+"/users/{userId}/groups", func(rc *restCall) {
		rc.h.removeUserFromAllGroups(rc.r.PathValue("userId"))
		rc.w.WriteHeader(http.StatusNoContent)
	})

	group := func(f func(rc *restCall, g string)) func(rc *restCall) {
		return func(rc *restCall) {
			if g := rc.r.PathValue("group"); rc.validGroup(g) {
				f(rc, g)
			}
		}
	}
	op("POST "+hub+"/groups/{group}/:send", group(func(rc *restCall, g string) { rc.send(&selector{group: g}, true) }))
	op("POST "+hub+"/groups/{group}/:closeConnections", group(func(rc *restCall, g string) { rc.closeConns(&selector{group: g}, true) }))
	op("HEAD "+hub+"/groups/{group}", group(func(rc *restCall, g string) {
		rc.exists(len(rc.h.selected(&selector{group: g})) > 0, codeGroupNotExist)
	}))
	op("PUT "+hub+"/groups/{group}/connections/{connectionId}", func(rc *restCall) { rc.connGroup(true) })
	op("DELETE "+hub+"/groups/{group}/connections/{connectionId}", func(rc *restCall) { rc.connGroup(false) })
	op("GET "+hub+"/groups/{group}/connections", group((*restCall).list))

	for _, m := range []string{"PUT", "DELETE", "HEAD"} {
		op(m+" "+hub+"/permissions/{permission}/connections/{connectionId}", (*restCall).permission)
	}
	// Everything else, including another method on an operation's path.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "No such operation: "+r.Method+" "+r.URL.EscapedPath())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var base http.ResponseWriter = w
		var rec *restRecorder
		if s.tracing() {
			rec = recordREST(w, r)
			base = rec
		}
		rw := &restWriter{ResponseWriter: base}
		if r.ContentLength != 0 {
			// A body has ReadTimeout to arrive, whatever the server's own
			// timeouts (a trickled one is answered 408, see readBody).
			http.NewResponseController(w).SetReadDeadline(start.Add(s.cfg.ReadTimeout))
			rw.body = &trackedBody{ReadCloser: r.Body}
			r.Body = rw.body
		}
		w.Header().Set("api-supported-versions", supportedAPIVersionsHeader)
		mux.ServeHTTP(rw, r)
		if rec != nil {
			s.traceREST(rec, rw.hub, start)
		}
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// hubOp wraps a hub operation in the checks the service makes before any:
// a valid hub name, a supported api-version, a token signed with an access
// key for this URL. Calls are served while Shutdown runs (the event
// handlers answering the disconnected events call the API) and refused once
// it has finished.
func (s *Server) hubOp(f func(rc *restCall)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hubName := r.PathValue("hub")
		rw, _ := w.(*restWriter)
		if rw != nil {
			rw.hub = hubName
		}
		if err := s.checkHubOp(r, hubName); err != nil {
			err.write(w)
			return
		}
		rc := &restCall{s: s, w: w, r: r, h: s.hub(hubName)}
		if rw != nil {
			rw.hub = rc.h.name
		}
		f(rc)
	})
}

func (s *Server) checkHubOp(r *http.Request, hubName string) *restError {
	if !validHubName(hubName) {
		return badRequest("hub", "Invalid hub name "+quoteShort(hubName)+".")
	}
	if err := checkAPIVersion(r); err != nil {
		return err
	}
	raw := bearer(r)
	if _, err := s.verifyLocal(raw, r); err != errNotLocal {
		if err != nil {
			return newRESTError(http.StatusUnauthorized, codeUnauthorized, "Request", "Unauthorized: "+err.Error()+".")
		}
		return s.shutdownError()
	}
	if s.cfg.DisableLocalAuth {
		return newRESTError(http.StatusUnauthorized, codeUnauthorized, "Request", "Unauthorized: local authentication is disabled; use a Microsoft Entra token.")
	}
	claims, err := s.verifyToken(raw)
	if err != nil {
		return newRESTError(http.StatusUnauthorized, codeUnauthorized, "Request", "Unauthorized: "+err.Error()+".")
	}
	if !restAudienceOK(claims, r) {
		return newRESTError(http.StatusUnauthorized, codeUnauthorized, "Request", "Unauthorized: the token's audience is not the request URL.")
	}
	return s.shutdownError()
}

func (s *Server) shutdownError() *restError {
	if s.down.Load() {
		return newRESTError(http.StatusServiceUnavailable, codeShutdown, "Request", "The emulator has shut down.")
	}
	return nil
}

func (rc *restCall) bad(msg string) { badRequest("Request", msg).write(rc.w) }

func (rc *restCall) fail(err *restError) { err.write(rc.w) }

func (rc *restCall) validGroup(g string) bool {
	if !wps.ValidGroup(g) {
		rc.bad("Invalid group name: it must have 1 to 1024 characters and not be only whitespace.")
		return false
	}
	return true
}

func (rc *restCall) exists(ok bool, code string) {
	if ok {
		rc.w.WriteHeader(http.StatusOK)
		return
	}
	rc.w.Header().Set("x-ms-error-code", code)
	rc.w.WriteHeader(http.StatusNotFound)
}

// common parses excluded and filter into sel.
func (rc *restCall) common(sel *selector, withExcluded bool) bool {
	q := rc.r.URL.Query()
	if withExcluded {
		for _, id := range q["excluded"] {
			if sel.excluded == nil {
				sel.excluded = map[string]struct{}{}
			}
			sel.excluded[id] = struct{}{}
		}
	}
	if f := q.Get("filter"); f != "" {
		fe, err := parseFilter(f)
		if err != nil {
			rc.fail(invalidFilter(f, err))
			return false
		}
		sel.filter = fe
	}
	return true
}

func (rc *restCall) send(sel *selector, withExcluded bool) {
	if !rc.common(sel, withExcluded) {
		return
	}
	ttl := 0
	if v := rc.r.URL.Query().Get("messageTtlSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 300 {
			rc.bad("messageTtlSeconds must be an integer from 0 to 300.")
			return
		}
		ttl = n
	}
	body, rerr := rc.readBody()
	if rerr != nil {
		rc.fail(rerr)
		return
	}
	p := payloadFromContentType(rc.r.Header.Get("Content-Type"), body)
	if p.dataType == dataJSON && !json.Valid(body) {
		rc.bad("The body is not valid JSON but the Content-Type says application/json.")
		return
	}
	if p.dataType == dataText && !utf8.Valid(body) {
		// Text goes out in WebSocket text frames, which must be UTF-8.
		rc.bad("The body is not valid UTF-8 but the Content-Type says text.")
		return
	}
	d := &delivery{p: p, from: "server"}
	if sel.group != "" {
		// As the service frames it (and Microsoft's client SDK expects: a
		// group-message): from the group, with no fromUserId.
		d.from, d.group = "group", sel.group
	}
	if ttl > 0 {
		// Counted from acceptance: a message still queued for a slow
		// client, or waiting for a reliable client to resume, when this
		// passes is dropped (conn.dropExpired). 0 never expires.
		d.expires = rc.s.now() + int64(ttl)*int64(time.Second)
	}
	n := rc.h.broadcast(sel, d)
	rc.s.log.Debug("emulator: REST send", "hub", rc.h.name, "recipients", n)
	rc.w.WriteHeader(http.StatusAccepted)
}

func (rc *restCall) closeConns(sel *selector, withExcluded bool) {
	if !rc.common(sel, withExcluded) {
		return
	}
	reason := rc.r.URL.Query().Get("reason")
	if reason == "" {
		reason = "ClosedByAppServer: the application server closed the connection."
	}
	for _, c := range rc.h.selected(sel) {
		c.close(closeReason{code: websocket.StatusNormalClosure, reason: reason})
	}
	rc.w.WriteHeader(http.StatusNoContent)
}

func (rc *restCall) connGroup(add bool) {
	group, id := rc.r.PathValue("group"), rc.r.PathValue("connectionId")
	if !rc.validGroup(group) {
		return
	}
	c := rc.h.conn(id)
	if add {
		if c == nil {
			rc.fail(connectionNotFound(id))
			return
		}
		rc.h.join(c, group)
		rc.w.WriteHeader(http.StatusOK)
		return
	}
	if c != nil {
		rc.h.leave(c, group)
	}
	rc.w.WriteHeader(http.StatusNoContent)
}

func (rc *restCall) userGroup(add bool) {
	user, group := rc.r.PathValue("userId"), rc.r.PathValue("group")
	if !rc.validGroup(group) {
		return
	}
	if add {
		rc.h.addUserToGroup(user, group)
		rc.w.WriteHeader(http.StatusOK)
	} else {
		rc.h.removeUserFromGroup(user, group)
		rc.w.WriteHeader(http.StatusNoContent)
	}
}

func (rc *restCall) groupsByFilter(add bool) {
	var body struct {
		Groups []string `json:"groups"`
		Filter string   `json:"filter"`
	}
	raw, rerr := rc.readBody()
	if rerr != nil {
		rc.fail(rerr)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		rc.bad("The body must be a JSON object {\"groups\": [...], \"filter\": \"...\"}.")
		return
	}
	for _, g := range body.Groups {
		if !rc.validGroup(g) {
			return
		}
	}
	sel := &selector{all: true}
	if body.Filter != "" {
		fe, err := parseFilter(body.Filter)
		if err != nil {
			rc.fail(invalidFilter(body.Filter, err))
			return
		}
		sel.filter = fe
	}
	for _, c := range rc.h.selected(sel) {
		for _, g := range body.Groups {
			if add {
				rc.h.join(c, g)
			} else {
				rc.h.leave(c, g)
			}
		}
	}
	rc.w.WriteHeader(http.StatusOK)
}

func (rc *restCall) permission() {
	perm, id := rc.r.PathValue("permission"), rc.r.PathValue("connectionId")
	target := rc.r.URL.Query().Get("targetName")
	if !validPermission(perm) {
		rc.bad("Unknown permission " + quoteShort(perm) + " (use sendToGroup or joinLeaveGroup).")
		return
	}
	c := rc.h.conn(id)
	switch rc.r.Method {
	case http.MethodPut:
		if c == nil {
			rc.fail(connectionNotFound(id))
			return
		}
		c.grant(perm, target)
		rc.w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		if c != nil {
			c.revoke(perm, target)
		}
		rc.w.WriteHeader(http.StatusNoContent)
	default: // HEAD
		if c == nil {
			rc.exists(false, codeConnNotExists)
			return
		}
		rc.exists(c.hasGrant(perm, target), codePermNotExists)
	}
}

// endpoint is the base URL the caller used to reach the emulator.
func (rc *restCall) endpoint() string {
	scheme := "http"
	if rc.r.TLS != nil {
		scheme = "https"
	}
	if p := rc.r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + rc.r.Host
}

func (rc *restCall) generateToken() {
	q := rc.r.URL.Query()
	minutes := int32(60)
	if v := q.Get("minutesToExpire"); v != "" {
		// The API's int: 32 bits, as the service parses it.
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			badRequest("minutesToExpire", "minutesToExpire must be an integer from 1 to 2147483647.").write(rc.w)
			return
		}
		minutes = int32(n)
	}
	path := "/client/hubs/"
	switch strings.ToLower(q.Get("clientType")) {
	case "", "default":
	case "mqtt":
		path = "/clients/mqtt/hubs/"
	case "socketio":
		path = "/clients/socketio/hubs/"
	default:
		rc.bad("Unknown clientType " + quoteShort(q.Get("clientType")) + " (use Default or MQTT).")
		return
	}
	tok, err := rc.s.clientToken(rc.endpoint()+path+rc.h.name, q.Get("userId"), q["role"], q["group"], minutes)
	if err != nil {
		writeError(rc.w, http.StatusInternalServerError, codeInternal, "Signing the token failed.")
		return
	}
	rc.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(rc.w).Encode(map[string]string{"token": tok})
}

// list serves ListConnectionsInGroup: members sorted by connection id, paged
// with an opaque continuation token (the last id of the previous page).
func (rc *restCall) list(group string) {
	q := rc.r.URL.Query()
	pageSize, top := 100, -1
	if v := q.Get("maxpagesize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			rc.bad("maxpagesize must be an integer from 1 to 200.")
			return
		}
		pageSize = n
	}
	if v := q.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			rc.bad("top must be a positive integer.")
			return
		}
		top = n
	}
	after := ""
	if v := q.Get("continuationToken"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			rc.bad("Invalid continuationToken.")
			return
		}
		after = string(b)
	}
	members := rc.h.selected(&selector{group: group})
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	i := sort.Search(len(members), func(i int) bool { return members[i].id > after })
	if after == "" {
		i = 0
	}
	n := pageSize
	if top >= 0 && top < n {
		n = top
	}
	end := min(i+n, len(members))
	type member struct {
		ConnectionID string `json:"connectionId"`
		UserID       string `json:"userId,omitempty"`
	}
	out := struct {
		Value    []member `json:"value"`
		NextLink string   `json:"nextLink,omitempty"`
	}{Value: []member{}}
	for _, c := range members[i:end] {
		out.Value = append(out.Value, member{c.id, c.userID})
	}
	remaining := -1
	if top >= 0 {
		remaining = top - (end - i)
	}
	if end < len(members) && remaining != 0 && end > i {
		nq := url.Values{}
		nq.Set("api-version", q.Get("api-version"))
		nq.Set("maxpagesize", strconv.Itoa(pageSize))
		if remaining > 0 {
			nq.Set("top", strconv.Itoa(remaining))
		}
		nq.Set("continuationToken", base64.RawURLEncoding.EncodeToString([]byte(members[end-1].id)))
		out.NextLink = rc.endpoint() + rc.r.URL.EscapedPath() + "?" + nq.Encode()
	}
	rc.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(rc.w).Encode(out)
}
