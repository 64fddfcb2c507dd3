package wps

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryOptions bounds how failed calls are retried. A call is retried after a
// network error or a 408, 429, 500, 502, 503 or 504 answer, never after any
// other status. The wait grows exponentially from Delay with random jitter,
// or is what the service asked for in Retry-After, and never exceeds MaxDelay
// nor the context's deadline. The zero value means the defaults.
type RetryOptions struct {
	// MaxRetries is how many times a call is retried after its first attempt.
	// 0 means the default, 3; a negative value disables retries (as in
	// azcore's policy.RetryOptions).
	MaxRetries int
	// Delay is the base wait before the first retry; it doubles on each
	// further retry. 0 means 800 ms; negative is refused by the constructor.
	Delay time.Duration
	// MaxDelay caps any single wait, including one asked for by Retry-After.
	// 0 means 60 s; negative is refused by the constructor. A MaxDelay below
	// Delay is raised to Delay.
	MaxDelay time.Duration
}

// Defaults of RetryOptions, in one place.
const (
	defaultMaxRetries = 3
	defaultRetryDelay = 800 * time.Millisecond
	defaultMaxDelay   = 60 * time.Second
)

// withDefaults resolves o's zero and negative fields, or says which field is
// out of range.
func (o RetryOptions) withDefaults() (RetryOptions, error) {
	if o.Delay < 0 {
		return o, fmt.Errorf("wps: RetryOptions.Delay %v is negative", o.Delay)
	}
	if o.MaxDelay < 0 {
		return o, fmt.Errorf("wps: RetryOptions.MaxDelay %v is negative", o.MaxDelay)
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = defaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.Delay == 0 {
		o.Delay = defaultRetryDelay
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = defaultMaxDelay
	}
	if o.MaxDelay < o.Delay {
		o.MaxDelay = o.Delay
	}
	return o, nil
}

// retryableStatus reports whether an answer with status code may succeed when
// the call is repeated.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff returns the wait before retry number n (1-based): Delay·2^(n-1)
// with ±20% jitter, capped at MaxDelay.
func (o RetryOptions) backoff(n int) time.Duration {
	d := o.Delay
	for i := 1; i < n && d < o.MaxDelay; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(d, o.MaxDelay)
}

// retryAfter returns the wait the service asked for in resp's headers
// (retry-after-ms, x-ms-retry-after-ms, or Retry-After in seconds or as an
// HTTP date), and whether it asked.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := resp.Header.Get(h); v != "" {
			if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 { // false for NaN
				return clampDelay(ms / 1e3), true
			}
		}
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if !(s >= 0) {
			return 0, false
		}
		return clampDelay(s), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// clampDelay converts seconds to a Duration, saturating at a day (the caller
// caps it at MaxDelay) instead of overflowing.
func clampDelay(seconds float64) time.Duration {
	if seconds > 86400 {
		return 24 * time.Hour
	}
	return time.Duration(seconds * float64(time.Second))
}
