package wps

import (
	"strconv"
	"strings"
)

// The filter helpers build the OData expressions the service's filter
// parameter takes (SendOptions.Filter, AddConnectionsToGroups, ...). Values
// are quoted here, with a ' inside a value doubled, so an id can never change
// the meaning of the expression around it. Combine them with And, Or and Not:
//
//	wps.And(wps.InGroup("room 1"), wps.Not(wps.FilterUserIs("o'brien")))
//	// ('room 1' in groups) and (not (userId eq 'o''brien'))

// Quote returns s as an OData string literal: in single quotes, with each '
// doubled.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// FilterUserIs matches the connections of user userID.
func FilterUserIs(userID string) string { return "userId eq " + Quote(userID) }

// FilterUserIsNot matches every connection not of user userID (anonymous
// connections included).
func FilterUserIsNot(userID string) string { return "userId ne " + Quote(userID) }

// FilterUserIn matches the connections of any of the users.
func FilterUserIn(userIDs ...string) string { return "userId in " + list(userIDs) }

// FilterConnectionIs matches one connection.
func FilterConnectionIs(connectionID string) string {
	return "connectionId eq " + Quote(connectionID)
}

// FilterConnectionIn matches any of the connections.
func FilterConnectionIn(connectionIDs ...string) string {
	return "connectionId in " + list(connectionIDs)
}

// InGroup matches the connections that are in group.
func InGroup(group string) string { return Quote(group) + " in groups" }

func list(vs []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Quote(v))
	}
	b.WriteByte(')')
	return b.String()
}

// And matches what every one of filters matches. Empty filters are skipped;
// each operand is parenthesised so precedence never surprises.
func And(filters ...string) string { return join(" and ", filters) }

// Or matches what any of filters matches. Empty filters are skipped.
func Or(filters ...string) string { return join(" or ", filters) }

// Not matches what filter does not match. Not("") is "".
func Not(filter string) string {
	if filter == "" {
		return ""
	}
	return "not (" + filter + ")"
}

func join(op string, filters []string) string {
	var parts []string
	for _, f := range filters {
		if f != "" {
			parts = append(parts, f)
		}
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString(op)
		}
		b.WriteString("(" + p + ")")
	}
	return b.String()
}

// FilterInt formats n as an OData integer literal, for expressions such as
// "length(userId) gt " + FilterInt(5).
func FilterInt(n int) string { return strconv.Itoa(n) }
