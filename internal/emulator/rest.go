package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

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

// Error codes.
const (
	codeBadRequest    = "Error.BadRequest"
	codeUnauthorized  = "Error.Unauthorized"
	codeNotFound      = "Error.NotFound"
	codeMethod        = "Error.MethodNotAllowed"
	codeTooLarge      = "Error.PayloadTooLarge"
	codeConnNotExists = "Info.Connection.NotExisted"
	codePermNotExists = "Info.Permission.NotExisted"
	codeGroupNotExist = "Info.Group.NotExisted"
	codeUserNotExists = "Info.User.NotExisted"
	codeShutdown      = "Error.ServiceUnavailable"
)

type restError struct {
	Code       string  `json:"code"`
	Message    string  `json:"message"`
	Target     *string `json:"target"`
	Details    any     `json:"details"`
	InnerError any     `json:"innererror"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(restError{Code: code, Message: msg})
}

// statusWriter remembers the status for the trace.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// restCall is one parsed REST request.
type restCall struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	h    *hub
	segs []string // unescaped path segments after /api/hubs/{hub}/
}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	hubName := s.routeREST(sw, r)
	if s.tracing() {
		st := sw.status
		if st == 0 {
			st = http.StatusOK
		}
		s.trace(TraceEvent{Kind: TraceREST, Hub: hubName, Status: st, Latency: time.Since(start),
			Summary: r.Method + " " + r.URL.EscapedPath() + " → " + strconv.Itoa(st)})
	}
}

// routeREST serves one REST call and returns its hub's name for the trace.
func (s *Server) routeREST(w http.ResponseWriter, r *http.Request) string {
	raw := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/api/"), "/")
	segs := make([]string, len(raw))
	for i, p := range raw {
		u, err := url.PathUnescape(p)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadRequest, "The path is not correctly percent-encoded.")
			return ""
		}
		segs[i] = u
	}
	if len(segs) == 1 && segs[0] == "health" {
		if r.Method != http.MethodHead && r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, codeMethod, "Use HEAD /api/health.")
			return ""
		}
		if s.closing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return ""
		}
		w.WriteHeader(http.StatusOK)
		return ""
	}
	if len(segs) < 3 || segs[0] != "hubs" {
		writeError(w, http.StatusNotFound, codeNotFound, "No such operation: "+r.Method+" "+r.URL.EscapedPath())
		return ""
	}
	hubName := segs[1]
	if !validHubName(hubName) {
		writeError(w, http.StatusBadRequest, codeBadRequest, "Invalid hub name "+quoteShort(hubName)+".")
		return hubName
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "The api-version query parameter is required.")
		return hubName
	}
	claims, err := s.verifyToken(bearer(r))
	if err != nil {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized: "+err.Error()+".")
		return hubName
	}
	if !restAudienceOK(claims, r) {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "Unauthorized: the token's audience is not the request URL.")
		return hubName
	}
	if s.closing.Load() {
		writeError(w, http.StatusServiceUnavailable, codeShutdown, "The emulator is shutting down.")
		return hubName
	}
	rc := &restCall{s: s, w: w, r: r, h: s.hub(hubName), segs: segs[2:]}
	rc.route()
	return rc.h.name
}

// route dispatches on the path shape and method.
func (rc *restCall) route() {
	m, sg := rc.r.Method, rc.segs
	n := len(sg)
	is := func(method string, shape ...string) bool {
		if m != method || n != len(shape) {
			return false
		}
		for i, p := range shape {
			if p != "*" && sg[i] != p {
				return false
			}
		}
		return true
	}
	switch {
	case is("POST", ":send"):
		rc.send(&selector{all: true}, true)
	case is("POST", ":closeConnections"):
		rc.closeConns(&selector{all: true}, true)
	case is("POST", ":generateToken"):
		rc.generateToken()
	case is("POST", ":addToGroups"):
		rc.groupsByFilter(true)
	case is("POST", ":removeFromGroups"):
		rc.groupsByFilter(false)
	case is("POST", "connections", "*", ":send"):
		rc.send(&selector{connection: sg[1]}, false)
	case is("DELETE", "connections", "*"):
		rc.closeConns(&selector{connection: sg[1]}, false)
	case is("HEAD", "connections", "*"):
		rc.exists(rc.h.conn(sg[1]) != nil, codeConnNotExists)
	case is("DELETE", "connections", "*", "groups"):
		if c := rc.h.conn(sg[1]); c != nil {
			for _, g := range rc.h.groupsOf(c) {
				rc.h.leave(c, g)
			}
		}
		rc.w.WriteHeader(http.StatusNoContent)
	case is("POST", "users", "*", ":send"):
		rc.send(&selector{user: sg[1]}, false)
	case is("POST", "users", "*", ":closeConnections"):
		rc.closeConns(&selector{user: sg[1]}, true)
	case is("HEAD", "users", "*"):
		rc.exists(len(rc.h.selected(&selector{user: sg[1]})) > 0, codeUserNotExists)
	case is("PUT", "users", "*", "groups", "*"):
		rc.userGroup(sg[1], sg[3], true)
	case is("DELETE", "users", "*", "groups", "*"):
		rc.userGroup(sg[1], sg[3], false)
	case is("DELETE", "users", "*", "groups"):
		rc.userAllGroups(sg[1])
	case is("POST", "groups", "*", ":send"):
		if rc.validGroup(sg[1]) {
			rc.send(&selector{group: sg[1]}, true)
		}
	case is("POST", "groups", "*", ":closeConnections"):
		if rc.validGroup(sg[1]) {
			rc.closeConns(&selector{group: sg[1]}, true)
		}
	case is("HEAD", "groups", "*"):
		if rc.validGroup(sg[1]) {
			rc.exists(len(rc.h.selected(&selector{group: sg[1]})) > 0, codeGroupNotExist)
		}
	case is("PUT", "groups", "*", "connections", "*"):
		rc.connGroup(sg[1], sg[3], true)
	case is("DELETE", "groups", "*", "connections", "*"):
		rc.connGroup(sg[1], sg[3], false)
	case is("GET", "groups", "*", "connections"):
		if rc.validGroup(sg[1]) {
			rc.list(sg[1])
		}
	case n == 4 && sg[0] == "permissions" && sg[2] == "connections" && (m == "PUT" || m == "DELETE" || m == "HEAD"):
		rc.permission(sg[1], sg[3])
	default:
		writeError(rc.w, http.StatusNotFound, codeNotFound, "No such operation: "+m+" "+rc.r.URL.EscapedPath())
	}
}

func (rc *restCall) bad(msg string) { writeError(rc.w, http.StatusBadRequest, codeBadRequest, msg) }

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
			rc.bad("Invalid filter: " + err.Error())
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
	body, err := io.ReadAll(http.MaxBytesReader(rc.w, rc.r.Body, maxRESTBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(rc.w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("The message is larger than %d bytes.", maxRESTBody))
			return
		}
		rc.bad("Reading the message failed.")
		return
	}
	p := payloadFromContentType(rc.r.Header.Get("Content-Type"), body)
	if p.dataType == dataJSON && !json.Valid(body) {
		rc.bad("The body is not valid JSON but the Content-Type says application/json.")
		return
	}
	d := &delivery{p: p, from: "server", group: sel.group} // group: the MQTT topic
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

func (rc *restCall) connGroup(group, id string, add bool) {
	if !rc.validGroup(group) {
		return
	}
	c := rc.h.conn(id)
	if add {
		if c == nil {
			writeError(rc.w, http.StatusNotFound, codeConnNotExists, "Connection "+quoteShort(id)+" is not found.")
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

func (rc *restCall) userGroup(user, group string, add bool) {
	if !rc.validGroup(group) {
		return
	}
	h := rc.h
	h.mu.Lock()
	if add {
		set := h.userGroups[user]
		if set == nil {
			set = map[string]struct{}{}
			h.userGroups[user] = set
		}
		set[group] = struct{}{}
	} else if set := h.userGroups[user]; set != nil {
		delete(set, group)
		if len(set) == 0 {
			delete(h.userGroups, user)
		}
	}
	h.mu.Unlock()
	for _, c := range h.selected(&selector{user: user}) {
		if add {
			h.join(c, group)
		} else {
			h.leave(c, group)
		}
	}
	if add {
		rc.w.WriteHeader(http.StatusOK)
	} else {
		rc.w.WriteHeader(http.StatusNoContent)
	}
}

func (rc *restCall) userAllGroups(user string) {
	h := rc.h
	h.mu.Lock()
	delete(h.userGroups, user)
	h.mu.Unlock()
	for _, c := range h.selected(&selector{user: user}) {
		for _, g := range h.groupsOf(c) {
			h.leave(c, g)
		}
	}
	rc.w.WriteHeader(http.StatusNoContent)
}

func (rc *restCall) groupsByFilter(add bool) {
	var body struct {
		Groups []string `json:"groups"`
		Filter string   `json:"filter"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(rc.w, rc.r.Body, maxRESTBody))
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
			rc.bad("Invalid filter: " + err.Error())
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

func (rc *restCall) permission(perm, id string) {
	q := rc.r.URL.Query()
	target := q.Get("targetName")
	c := rc.h.conn(id)
	var p *perms
	if c != nil {
		p = &c.perms
	}
	if (&perms{}).kind(perm) == nil {
		rc.bad("Unknown permission " + quoteShort(perm) + " (use sendToGroup or joinLeaveGroup).")
		return
	}
	switch rc.r.Method {
	case http.MethodPut:
		if c == nil {
			writeError(rc.w, http.StatusNotFound, codeConnNotExists, "Connection "+quoteShort(id)+" is not found.")
			return
		}
		c.pmu.Lock()
		p.kind(perm).add(target)
		c.pmu.Unlock()
		rc.w.WriteHeader(http.StatusOK)
	case http.MethodDelete:
		if c != nil {
			c.pmu.Lock()
			p.kind(perm).remove(target)
			c.pmu.Unlock()
		}
		rc.w.WriteHeader(http.StatusNoContent)
	default: // HEAD
		if c == nil {
			rc.exists(false, codeConnNotExists)
			return
		}
		c.pmu.Lock()
		ok := p.kind(perm).has(target)
		c.pmu.Unlock()
		rc.exists(ok, codePermNotExists)
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
	minutes := 60
	if v := q.Get("minutesToExpire"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			rc.bad("minutesToExpire must be an integer of at least 1.")
			return
		}
		minutes = n
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
	tok, err := rc.s.clientToken(rc.endpoint()+path+rc.h.name, q.Get("userId"), q["role"], q["group"], time.Duration(minutes)*time.Minute)
	if err != nil {
		writeError(rc.w, http.StatusInternalServerError, "Error.Internal", "Signing the token failed.")
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
