package cloudevents

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// newRequest and send are the service side for this package's tests, which
// cannot import package upstream (it imports this package); upstream's own
// tests run the same kinds of events through its Caller against a Handler
// and against Microsoft's Express handler.
func newRequest(ctx context.Context, url string, ev Event, keys ...string) (*http.Request, error) {
	h := http.Header{}
	body, err := EncodeEvent(h, ev)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	if len(h[HeaderRequestOrigin]) == 0 {
		h[HeaderRequestOrigin] = []string{req.URL.Hostname()}
	}
	if sig := Sign(ev.connectionContext().ConnectionID, keys...); sig != "" {
		h[HeaderSignature] = []string{sig}
	}
	return req, nil
}

func send(ctx context.Context, url string, ev Event, keys ...string) (*Answer, error) {
	req, err := newRequest(ctx, url, ev, keys...)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}
