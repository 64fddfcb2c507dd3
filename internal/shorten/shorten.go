// Package shorten cuts strings to a byte budget for errors, logs and close
// reasons without breaking UTF-8: a cut never falls inside a character.
package shorten

import "unicode/utf8"

// Ellipsis marks a shortened string.
const Ellipsis = "…"

// String returns s if it has at most n bytes, else its longest prefix of at
// most n bytes that ends on a character boundary, followed by Ellipsis. A
// negative n is 0.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Prefix(s, n) + Ellipsis
}

// Prefix returns the longest prefix of s of at most n bytes that ends on a
// character boundary (no ellipsis: for fields with a hard limit, such as a
// WebSocket close reason). A negative n is 0.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
