package wps

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxGroupLen is the longest group name the REST API accepts, in characters.
const maxGroupLen = 1024

// checkID rejects an empty connection or user id.
func checkID(op, what, v string) error {
	if v == "" {
		return fmt.Errorf("wps: %s: %s is empty", op, what)
	}
	return nil
}

// ValidGroup reports whether name is a group name the REST API accepts: 1 to
// 1024 characters, not only whitespace.
func ValidGroup(name string) bool {
	return name != "" && utf8.RuneCountInString(name) <= maxGroupLen && strings.TrimSpace(name) != ""
}

func checkGroup(op, g string) error {
	if !ValidGroup(g) {
		return fmt.Errorf("wps: %s: group name %q is not valid: it must have 1 to 1024 characters, not only whitespace", op, truncate(g, 40))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// queryBuilder appends "&key=value" pairs, escaping values.
type queryBuilder struct{ b []byte }

func (q *queryBuilder) add(k, v string) {
	q.b = append(q.b, '&')
	q.b = append(q.b, k...)
	q.b = append(q.b, '=')
	q.b = append(q.b, escapeQuery(v)...)
}

func (q *queryBuilder) String() string { return string(q.b) }
