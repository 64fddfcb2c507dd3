package relay

import "time"

// Window is the dedupe window, for its own tests.
type Window = window

// NewWindow returns a window whose clock is now.
func NewWindow(ttl time.Duration, maxIDs int, maxBytes int64, now func() time.Time) *Window {
	w := newWindow(ttl, maxIDs, maxBytes)
	w.now = now
	return w
}

// Begin, Finish, Abort and Size expose the window's operations.
func (w *window) Begin(id string) string {
	return [...]string{"fresh", "seen", "in flight"}[w.begin(id)]
}
func (w *window) Finish(id string)   { w.finish(id) }
func (w *window) Abort(id string)    { w.abort(id) }
func (w *window) Size() (int, int64) { return w.size() }

// Get applies the JSON Pointer p to doc.
func Get(p string, doc []byte) ([]byte, error) {
	ptr, err := parsePointer(p)
	if err != nil {
		return nil, err
	}
	return ptr.get(doc)
}

// SeenOverhead is the bytes counted per remembered id beyond its own.
const SeenOverhead = seenOverhead
