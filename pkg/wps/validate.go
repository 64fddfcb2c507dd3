package wps

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/internal/shorten"
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

// ValidHub reports whether name is a hub name the REST API accepts: a letter,
// then up to 127 letters, digits or any of _ ` , . [ ] (the service's pattern
// ^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$, checked by hand: compiling it costs
// more start-up time than a cold function can spare).
func ValidHub(name string) bool {
	if name == "" || len(name) > 128 || !isLetter(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && (c < '0' || c > '9') && strings.IndexByte("_`,.[]", c) < 0 {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// ValidGroup reports whether name is a group name the REST API accepts: 1 to
// 1024 characters, not only whitespace.
func ValidGroup(name string) bool {
	return name != "" && utf8.RuneCountInString(name) <= maxGroupLen && strings.TrimSpace(name) != ""
}

func checkGroup(op, g string) error {
	if !ValidGroup(g) {
		return fmt.Errorf("wps: %s: group name %q is not valid: it must have 1 to 1024 characters, not only whitespace", op, shorten.String(g, 40))
	}
	return nil
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
