package wps

import "strings"

// escapePath percent-encodes s as one path segment the way Microsoft's
// JavaScript SDK does (encodeURIComponent: everything but letters, digits and
// - _ . ! ~ * ' ( ) is encoded as UTF-8 bytes). A segment that is exactly "."
// or ".." is encoded as well, so no server or proxy can resolve it as a
// relative path (the JavaScript SDK leaves it to be resolved, a bug).
func escapePath(s string) string {
	if s == "." {
		return "%2E"
	}
	if s == ".." {
		return "%2E%2E"
	}
	return escape(s, true)
}

// escapeQuery percent-encodes a query value as the JavaScript SDK's wire
// shows: encodeURIComponent, plus ' (which the URL parser encodes in queries).
func escapeQuery(s string) string { return escape(s, false) }

func escape(s string, path bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i], path) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keep(c, path) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}

func keep(c byte, path bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '!', '~', '*', '(', ')':
		return true
	case '\'':
		return path
	}
	return false
}
