package httprec

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRecordsAsOnTheWire(t *testing.T) {
	s := New(t, Options{})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/hubs/chat/groups/room%201/:send?api-version=2024-12-01&excluded=a%2Cb", http.StatusAccepted},
		{"DELETE", "/api/hubs/chat/users/u/groups/g?api-version=2024-12-01", http.StatusNoContent},
		{"POST", "/api/hubs/chat/:closeConnections?api-version=2024-12-01", http.StatusNoContent},
		{"HEAD", "/api/hubs/chat/groups/g/connections?api-version=2024-12-01", http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader("hi"))
		req.Header.Set("X-Test", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
	got := s.WaitN(t, 4, time.Second)
	r := got[0]
	if r.Method != "POST" || r.Path != "/api/hubs/chat/groups/room%201/:send" || r.RawQuery != "api-version=2024-12-01&excluded=a%2Cb" ||
		string(r.Body) != "hi" || r.Header.Get("X-Test") != "1" || r.Host != s.Addr {
		t.Fatalf("recorded %+v", r)
	}
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d requests after Reset", n)
	}
}

func TestCheckAndAnswer(t *testing.T) {
	s := New(t, Options{
		Check: func(r *http.Request) error {
			if r.Header.Get("Authorization") == "" {
				return errors.New("no token")
			}
			return nil
		},
		Answer: func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(500 + n) },
	})
	for _, auth := range []string{"", "Bearer x", "Bearer y"} {
		req, _ := http.NewRequest("POST", s.URL+"/", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := map[string]int{"": 401, "Bearer x": 501, "Bearer y": 502}[auth]
		if resp.StatusCode != want {
			t.Errorf("auth %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
	if got := s.Requests(); len(got) != 2 || got[0].Header.Get("Authorization") != "Bearer x" {
		t.Fatalf("recorded %+v", got)
	}
	teapot := New(t, Options{Answer: Status(http.StatusTeapot)})
	resp, err := http.Get(teapot.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Fatalf("Status(418) answered %d", resp.StatusCode)
	}
}
