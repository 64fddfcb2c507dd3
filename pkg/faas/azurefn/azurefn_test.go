package azurefn_test

import (
	_ "embed"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/internal/assert"
	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
)

var (
	//go:embed testdata/timer.json
	timerPayload []byte
	//go:embed testdata/http.json
	httpPayload []byte
)

func TestDecodeTimer(t *testing.T) {
	inv, err := azurefn.Decode(timerPayload)
	assert.Success(t, err)
	at, ok := inv.Time()
	assert.True(t, "has time", ok)
	assert.Equal(t, "time", at, time.Date(2026, 11, 27, 5, 0, 0, 500_000_000, time.UTC))
	timer, ok := inv.Timer()
	assert.True(t, "has timer", ok)
	assert.True(t, "IsPastDue", timer.IsPastDue)
	assert.True(t, "AdjustForDST", timer.Schedule.AdjustForDST)
	if timer.ScheduleStatus == nil {
		t.Fatal("ScheduleStatus is nil")
	}
	assert.Equal(t, "Next", timer.ScheduleStatus.Next, "2026-11-27T05:05:00.0000000+00:00")
}

func TestDecodeLenient(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		time          time.Time // zero: none
	}{
		{"payload as a JSON string, lower-case keys, no sys", `"{\"data\":{\"t\":{}},\"metadata\":{}}"`, time.Time{}},
		{"top-level UtcNow (older hosts)", `{"Data":{},"Metadata":{"UtcNow":"11/27/2026 5:00:00 AM"}}`, time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)},
		{"binding and metadata as JSON strings", `{"Data":{"timer":"{\"ScheduleStatus\":null}"},"Metadata":"{\"sys\":{\"UtcNow\":\"/Date(1000)/\"}}"}`, time.UnixMilli(1000).UTC()},
		{"null Data", `{"Data":null,"Metadata":{}}`, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := azurefn.Decode([]byte(tc.payload))
			assert.Success(t, err)
			at, ok := inv.Time()
			assert.Equal(t, "has time", ok, !tc.time.IsZero())
			assert.Equal(t, "time", at, tc.time)
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, payload, reason string }{
		{"empty", ``, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"Data not an object", `{"Data":[1]}`, "Data is neither"},
		{"Metadata not JSON", `{"Metadata":"not json"}`, "Metadata is neither"},
		{"broken string", `"{"`, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := azurefn.Decode([]byte(tc.payload))
			assert.Error(t, err)
			if err != nil {
				assert.Contains(t, "error", err.Error(), tc.reason)
			}
		})
	}
}

func TestHTTPRequest(t *testing.T) {
	inv, err := azurefn.Decode(httpPayload)
	assert.Success(t, err)
	d, binding, ok := inv.HTTPRequest()
	assert.True(t, "has HTTP trigger", ok)
	assert.Equal(t, "binding", binding, "req")
	req, err := d.NewRequest(t.Context())
	assert.Success(t, err)
	assert.Equal(t, "method", req.Method, "POST")
	assert.Equal(t, "url", req.URL.String(), "https://app.azurewebsites.net/api/negotiate?user=alice")
	assert.Equal(t, "host", req.Host, "app.azurewebsites.net")
	assert.Equal(t, "content type", req.Header.Get("Content-Type"), "application/json")
	assert.Equal(t, "single-valued header", req.Header.Get("X-One"), "1")
	body, err := io.ReadAll(req.Body)
	assert.Success(t, err)
	assert.Equal(t, "body", string(body), `{"a":1}`)

	t.Run("query from Query, object body", func(t *testing.T) {
		inv, err := azurefn.Decode([]byte(`{"Data":{"req":"{\"Url\":\"http://h/api/fn\",\"Method\":\"GET\",\"Query\":{\"a\":\"1 2\"},\"Body\":{\"k\":1}}"}}`))
		assert.Success(t, err)
		d, _, ok := inv.HTTPRequest()
		assert.True(t, "has HTTP trigger", ok)
		req, err := d.NewRequest(t.Context())
		assert.Success(t, err)
		assert.Equal(t, "query", req.URL.RawQuery, "a=1+2")
		body, _ := io.ReadAll(req.Body)
		assert.Equal(t, "body", string(body), `{"k":1}`)
	})
	t.Run("bad Url is not quoted", func(t *testing.T) {
		d := &azurefn.HTTPRequest{URL: "http://secret@h/%zz", Method: "GET"}
		_, err := d.NewRequest(t.Context())
		assert.Error(t, err)
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error quotes the Url: %v", err)
		}
	})
	t.Run("timer payload has none", func(t *testing.T) {
		inv, _ := azurefn.Decode(timerPayload)
		_, _, ok := inv.HTTPRequest()
		assert.True(t, "no HTTP trigger", !ok)
	})
}

func TestContext(t *testing.T) {
	_, ok := azurefn.FromContext(t.Context())
	assert.True(t, "empty context has none", !ok)
	inv := &azurefn.Invocation{}
	got, ok := azurefn.FromContext(azurefn.NewContext(t.Context(), inv))
	assert.True(t, "found", ok)
	assert.True(t, "same invocation", got == inv)
}

func TestParseTime(t *testing.T) {
	frac := time.Date(2026, 9, 24, 13, 8, 0, 9_603_500, time.UTC)
	whole := time.Date(2026, 9, 24, 13, 8, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-09-24T13:08:00.0096035+00:00", frac},
		{"2026-09-24T13:08:00.0096035Z", frac},
		{"2026-09-24T15:08:00.0096035+02:00", frac},
		{"2026-09-24T13:08:00.0096035", frac},
		{"2026-09-24 13:08:00.0096035Z", frac},
		{"9/24/2026 1:08:00 PM", whole},
		{"09/24/2026 13:08:00", whole},
		{"/Date(1790255280000)/", whole},
		{"/Date(1790255280000+0200)/", whole},
		{" 2026-09-24T13:08:00Z ", whole},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := azurefn.ParseTime(tc.in)
			assert.Success(t, err)
			assert.Equal(t, "time", got, tc.want)
			assert.Equal(t, "location", got.Location(), time.UTC)
		})
	}
	for _, bad := range []string{"", "yesterday", "/Date(abc)/", "2026-13-40T00:00:00Z"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			_, err := azurefn.ParseTime(bad)
			assert.Error(t, err)
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(timerPayload)
	f.Add(httpPayload)
	f.Add([]byte(`{"Data":{"timer":"{\"ScheduleStatus\":null}"},"Metadata":"{\"sys\":{\"UtcNow\":\"/Date(1)/\"}}"}`))
	f.Add([]byte(`"{\"Data\":{}}"`))
	f.Add([]byte(`{"Data":{"req":{"Url":"::","Method":"GET"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := azurefn.Decode(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if at, ok := inv.Time(); ok && at.Location() != time.UTC {
			t.Errorf("time %v not UTC", at)
		}
		inv.Timer()
		if d, _, ok := inv.HTTPRequest(); ok {
			d.NewRequest(t.Context()) // must not panic
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-09-24T13:08:00.0096035+00:00", "9/24/2026 1:08:00 PM", "/Date(1790255280000+0200)/", "/Date(-5)/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, err := azurefn.ParseTime(s); err == nil && tm.Location() != time.UTC {
			t.Errorf("%q: not UTC", s)
		}
	})
}
