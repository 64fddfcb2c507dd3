package wps

import (
	"errors"
	"strings"
)

// Filter is an OData filter selecting connections, for SendOptions.Filter,
// AddConnectionsToGroups and RemoveConnectionsFromGroups. Build one with the
// constructors (FilterUserIs, FilterInGroup, ...) and combine them with And,
// Or and Not: they quote values (with a ' inside a value doubled), so an id
// can never change the meaning of the expression around it, and a string
// cannot become a filter by accident.
//
//	wps.And(wps.FilterInGroup("room 1"), wps.Not(wps.FilterUserIs("o'brien")))
//	// ('room 1' in groups) and (not (userId eq 'o''brien'))
//
// The zero Filter is "no filter": a send goes to every connection its
// operation addresses, AddConnectionsToGroups adds every connection. For an
// expression the constructors cannot build, RawFilter takes OData text as it
// is.
//
// A Filter that cannot be built (Not of the zero Filter, FilterUserIn with
// no ids) carries an error instead; the call it is passed to returns that
// error without sending anything, as Message does for JSON.
type Filter struct {
	expr string
	err  error
}

// RawFilter returns expr, OData text in the service's filter syntax, as a
// Filter, unchecked. It is the escape hatch for expressions the
// constructors do not cover, e.g.
//
//	wps.RawFilter("startswith(userId, " + wps.Quote(prefix) + ")")
//
// Never pass text that comes from a user: quote every value with Quote, or
// use the constructors. RawFilter("") is the zero Filter.
func RawFilter(expr string) Filter { return Filter{expr: expr} }

// String returns the filter's OData text ("" for the zero Filter or one that
// carries an error).
func (f Filter) String() string {
	if f.err != nil {
		return ""
	}
	return f.expr
}

// IsZero reports whether f is the zero Filter (no filter).
func (f Filter) IsZero() bool { return f.expr == "" && f.err == nil }

// Err reports why f could not be built, or nil.
func (f Filter) Err() error { return f.err }

// Quote returns s as an OData string literal: in single quotes, with each '
// doubled. It is for building a RawFilter.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// FilterUserIs matches the connections of user userID.
func FilterUserIs(userID string) Filter { return Filter{expr: "userId eq " + Quote(userID)} }

// FilterUserIsNot matches every connection not of user userID (anonymous
// connections included).
func FilterUserIsNot(userID string) Filter { return Filter{expr: "userId ne " + Quote(userID)} }

// FilterUserIn matches the connections of any of the users. With no user
// ids it carries an error (the service has no empty list literal).
func FilterUserIn(userIDs ...string) Filter { return inList("userId", "FilterUserIn", userIDs) }

// FilterConnectionIs matches one connection.
func FilterConnectionIs(connectionID string) Filter {
	return Filter{expr: "connectionId eq " + Quote(connectionID)}
}

// FilterConnectionIn matches any of the connections. With no connection ids
// it carries an error.
func FilterConnectionIn(connectionIDs ...string) Filter {
	return inList("connectionId", "FilterConnectionIn", connectionIDs)
}

// FilterInGroup matches the connections that are in group.
func FilterInGroup(group string) Filter { return Filter{expr: Quote(group) + " in groups"} }

func inList(field, fn string, vs []string) Filter {
	if len(vs) == 0 {
		return Filter{err: errors.New("filter: " + fn + " was given no ids")}
	}
	var b strings.Builder
	b.WriteString(field + " in (")
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Quote(v))
	}
	b.WriteByte(')')
	return Filter{expr: b.String()}
}

// And matches what every one of filters matches. Zero filters are skipped
// (And() and And(Filter{}) are the zero Filter); each operand is
// parenthesised so precedence never surprises. If any operand carries an
// error, so does the result.
func And(filters ...Filter) Filter { return join(" and ", filters) }

// Or matches what any of filters matches. Zero filters are skipped, as in
// And, so an operand that is "no filter" narrows the result rather than
// widening it to every connection; if any operand carries an error, so does
// the result.
func Or(filters ...Filter) Filter { return join(" or ", filters) }

// errNotEmpty is carried by Not of the zero Filter.
var errNotEmpty = errors.New("filter: Not of an empty filter (it would match no connection; an empty filter matches every one)")

// Not matches what f does not match.
//
// Not of the zero Filter carries an error rather than a filter: the zero
// Filter means "every connection", so its negation would select none, and
// such a filter is almost always a bug (an empty value where an id was
// meant). Turning it into the zero Filter instead would silently address
// every connection. A call given it fails without sending anything.
func Not(f Filter) Filter {
	if f.err != nil {
		return f
	}
	if f.expr == "" {
		return Filter{err: errNotEmpty}
	}
	return Filter{expr: "not (" + f.expr + ")"}
}

func join(op string, filters []Filter) Filter {
	var parts []string
	for _, f := range filters {
		if f.err != nil {
			return f
		}
		if f.expr != "" {
			parts = append(parts, f.expr)
		}
	}
	switch len(parts) {
	case 0:
		return Filter{}
	case 1:
		return Filter{expr: parts[0]}
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(op)
		}
		b.WriteString("(" + p + ")")
	}
	return Filter{expr: b.String()}
}
