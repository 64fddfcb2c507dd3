// Package ident checks the ids and names the functions take from callers
// (user ids, group names, connection ids) and shortens them for the error
// messages that quote them.
package ident

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// Check returns why s is not an acceptable id or name of at most max bytes,
// as a phrase to follow its name ("is empty", "holds a control character"),
// or nil when it is acceptable.
func Check(s string, max int) error {
	switch {
	case s == "":
		return errEmpty
	case len(s) > max:
		return &tooLongError{max}
	case !utf8.ValidString(s):
		return errNotUTF8
	case strings.TrimSpace(s) == "":
		return errBlank
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errControl
	}
	return nil
}

var (
	errEmpty   = errors.New("is empty")
	errNotUTF8 = errors.New("is not valid UTF-8")
	errBlank   = errors.New("is only whitespace")
	errControl = errors.New("holds a control character")
)

type tooLongError struct{ max int }

func (e *tooLongError) Error() string { return "is longer than " + strconv.Itoa(e.max) + " bytes" }

// Clip shortens s to 40 bytes for an error message, marking the cut with
// "…"; it never cuts a character in half.
func Clip(s string) string { return shorten.String(s, 40) }
