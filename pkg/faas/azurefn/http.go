package azurefn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// HTTPRequest is an httpTrigger binding's value, as the host sends it to a
// function that has bindings besides HTTP in and out (so it is not
// forwarded). Query, Headers and Body keep the host's JSON: their shapes vary
// between host versions.
type HTTPRequest struct {
	URL     string                     `json:"Url"`
	Method  string                     `json:"Method"`
	Query   json.RawMessage            `json:"Query"`
	Headers map[string]json.RawMessage `json:"Headers"`
	Body    json.RawMessage            `json:"Body"`
}

// HTTPRequest finds the HTTP trigger's value in Data (a value with a Method
// and a Url) and returns it with its binding name; ok is false when there is
// none.
func (inv *Invocation) HTTPRequest() (req *HTTPRequest, binding string, ok bool) {
	for name := range inv.Data {
		var d HTTPRequest
		if inv.Binding(name, &d) && d.Method != "" && d.URL != "" {
			return &d, name, true
		}
	}
	return nil, "", false
}

// NewRequest builds the *http.Request the trigger describes: the query from
// the Url, else from Query; the body from a JSON string, or the JSON of an
// object the host already parsed; each header with one or many values.
func (d *HTTPRequest) NewRequest(ctx context.Context) (*http.Request, error) {
	u, err := url.Parse(d.URL)
	if err != nil {
		return nil, errors.New("HTTP trigger Url does not parse") // the URL may hold secrets: not quoted
	}
	if u.RawQuery == "" {
		var q map[string]string
		if unmarshalLenient(d.Query, &q) == nil {
			vals := url.Values{}
			for k, v := range q {
				vals.Set(k, v)
			}
			u.RawQuery = vals.Encode()
		}
	}
	var body []byte
	if len(d.Body) > 0 && !bytes.Equal(d.Body, []byte("null")) {
		var s string
		if json.Unmarshal(d.Body, &s) == nil {
			body = []byte(s)
		} else {
			body = d.Body
		}
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(d.Method), u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("HTTP trigger request: %w", err)
	}
	for k, raw := range d.Headers {
		var vs []string
		if json.Unmarshal(raw, &vs) != nil {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				continue
			}
			vs = []string{s}
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Host = u.Host
	return req, nil
}
