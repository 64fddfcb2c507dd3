package wps

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseConnectionString(t *testing.T) {
	cases := []struct {
		in   string
		want ConnectionString
	}{
		{"Endpoint=https://x.webpubsub.azure.com;AccessKey=k==;Version=1.0;",
			ConnectionString{Endpoint: "https://x.webpubsub.azure.com", AccessKey: "k==", Version: "1.0"}},
		{confConnStr, ConnectionString{Endpoint: "http://127.0.0.1:18091", AccessKey: confKey, Version: "1.0"}},
		// case-insensitive keys, whitespace, no trailing ';', trailing slash, Port replaces a port
		{"  endpoint = https://x.example.com:8443/ ; ACCESSKEY=a=b=c ;port=9443 ",
			ConnectionString{Endpoint: "https://x.example.com:9443", AccessKey: "a=b=c"}},
		{"Endpoint=HTTPS://X.WebPubSub.Azure.COM:443;AccessKey=k", ConnectionString{Endpoint: "https://x.webpubsub.azure.com", AccessKey: "k"}},
		{"Endpoint=http://[::1];Port=80;AccessKey=k", ConnectionString{Endpoint: "http://[::1]", AccessKey: "k"}},
		{"Endpoint=http://[::1];Port=8080;AccessKey=k;ClientEndpoint=https://clients.example.com/;;",
			ConnectionString{Endpoint: "http://[::1]:8080", AccessKey: "k", ClientEndpoint: "https://clients.example.com"}},
		{"Endpoint=http://localhost:8080;AccessKey=k;Version=1.0;Unknown=ignored",
			ConnectionString{Endpoint: "http://localhost:8080", AccessKey: "k", Version: "1.0"}},
	}
	for _, tc := range cases {
		got, err := ParseConnectionString(tc.in)
		if err != nil {
			t.Errorf("ParseConnectionString(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseConnectionString(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseConnectionStringErrors(t *testing.T) {
	const key = "SECRETKEY0123456789abcdefghijklmnopqrstuvw="
	cases := map[string]string{
		"":                              "Endpoint is missing",
		"AccessKey=" + key:              "Endpoint is missing",
		"Endpoint=https://x":            "AccessKey is missing",
		"Endpoint=https://x;AccessKey=": "AccessKey is missing",
		"Endpoint=x.webpubsub.azure.com;AccessKey=" + key:            "Endpoint: \"x.webpubsub.azure.com\" is not an absolute http or https URL",
		"Endpoint=ftp://x;AccessKey=" + key:                          "is not an absolute http or https URL",
		"Endpoint=https://x;Port=70000;AccessKey=" + key:             "Port \"70000\" is not a number from 1 to 65535",
		"Endpoint=https://x;AccessKey=" + key + ";AccessKey=" + key:  "key \"accesskey\" appears twice",
		"Endpoint=https://x;garbage;AccessKey=" + key:                "segment 2 has no '='",
		"Endpoint=" + key + ";AccessKey=" + key:                      "Endpoint is not an absolute http or https URL",
		"Endpoint=https://x?q=1;AccessKey=" + key:                    "must not carry a query",
		"Endpoint=https://u:" + key + "@x;AccessKey=" + key:          "must not carry user info",
		"Endpoint=https://x;AccessKey=" + key + ";ClientEndpoint=ws": "ClientEndpoint",
	}
	for in, want := range cases {
		_, err := ParseConnectionString(in)
		if err == nil {
			t.Errorf("ParseConnectionString(%q): no error", in)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "wps: connection string: ") {
			t.Errorf("ParseConnectionString(%q) error %q, want it to say %q", in, err, want)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("ParseConnectionString(%q) error %q contains the key", in, err)
		}
	}
}

func FuzzParseConnectionString(f *testing.F) {
	for _, s := range []string{
		confConnStr,
		"Endpoint=https://x.webpubsub.azure.com;AccessKey=k;Version=1.0;",
		"endpoint=http://[::1];port=1;accesskey=a=b;clientendpoint=https://c/",
		"Endpoint=https://x;AccessKey=k;AccessKey=k",
		"Endpoint=KEY;AccessKey=KEY",
		";;=;==;Port=;",
		"Endpoint=https://x:99999;AccessKey=k;Port=0",
		"Endpoint=https://ü.example/%zz;AccessKey=\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseConnectionString(s)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "wps: connection string: ") {
				t.Fatalf("error %q lacks the prefix", msg)
			}
			// The key, if the string has one long enough to be told apart from
			// ordinary words, never appears in the error.
			for seg := range strings.SplitSeq(s, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(seg), "=")
				if v = strings.TrimSpace(v); ok && strings.EqualFold(strings.TrimSpace(k), "accesskey") && len(v) >= 8 && strings.Contains(msg, v) {
					t.Fatalf("error %q contains the key %q", msg, v)
				}
			}
			return
		}
		if cs.AccessKey == "" {
			t.Fatal("parsed without a key")
		}
		u, err := url.Parse(cs.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.HasSuffix(cs.Endpoint, "/") {
			t.Fatalf("Endpoint %q is not a normalized http(s) URL", cs.Endpoint)
		}
		// What String writes, Parse reads back the same (keys without ';').
		if !strings.ContainsAny(cs.AccessKey+cs.Version, ";") && strings.TrimSpace(cs.AccessKey) == cs.AccessKey {
			again, err := ParseConnectionString(cs.String())
			if err != nil || again != cs {
				t.Fatalf("round trip of %+v: %+v, %v", cs, again, err)
			}
		}
	})
}
