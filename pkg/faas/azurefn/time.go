package azurefn

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/internal/shorten"
)

// timeLayouts are the forms .NET hosts are seen writing: round-trip ("o")
// with up to 7 fractional digits, with or without an offset, and the
// culture-invariant general ("G") form.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05.9999999Z0700",
	"2006-01-02 15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05.9999999",
	"2006-01-02 15:04:05Z",
	"01/02/2006 15:04:05",
	"1/2/2006 3:04:05 PM",
	"01/02/2006 03:04:05 PM",
	"1/2/2006 15:04:05",
}

// ParseTime reads a timestamp as .NET and JSON.NET write them: ISO 8601 with
// or without an offset (no offset means UTC), 7 fractional digits, the
// invariant "M/d/yyyy h:mm:ss tt" form, or "/Date(ms[+hhmm])/". The result is
// in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
		body := s[len("/Date(") : len(s)-2]
		if i := strings.LastIndexAny(body, "+-"); i > 0 {
			body = body[:i] // the offset only says how to display it
		}
		ms, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("azurefn: bad /Date()/ time %q", shorten.String(s, 40))
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("azurefn: unrecognised time %q", shorten.String(s, 40))
}
