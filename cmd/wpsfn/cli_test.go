package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// The first things a new user types: each answer is one line naming the
// problem (exit 2 for usage), help and the version on stdout (exit 0).
func TestCLIAnswers(t *testing.T) {
	placeholder := "Endpoint=https://<name>.webpubsub.azure.com;AccessKey=<key>;Version=1.0;"
	for _, tc := range []struct {
		name           string
		args           []string
		env            []string
		code           int
		stdout, stderr string // substrings; stderr must then be one line
	}{
		{"unknown flag", []string{"send", "--bogus"}, nil, 2, "", "wpsfn send: unknown flag --bogus (run 'wpsfn help send')"},
		{"flag without value", []string{"token", "--user"}, nil, 2, "", "wpsfn token: flag needs an argument: -user (run 'wpsfn help token')"},
		{"stray argument", []string{"dev", "now"}, nil, 2, "", `wpsfn dev: unexpected argument "now"`},
		{"help for a command", []string{"help", "send"}, nil, 0, "usage: wpsfn send --to", ""},
		{"flags with two dashes", []string{"help", "send"}, nil, 0, "\n  --json string\n", ""},
		{"help for an unknown command", []string{"help", "sned"}, nil, 2, "", `wpsfn: unknown command "sned"`},
		{"help", []string{"help"}, nil, 0, "wpsfn help <command>", ""},
		{"version", []string{"--version"}, nil, 0, "wpsfn ", ""},
		{"placeholder connection string", []string{"token", "--user", "alice"}, []string{"WEBPUBSUB_CONNECTION_STRING=" + placeholder, "WEBPUBSUB_HUB=chat"}, 2, "",
			"WEBPUBSUB_CONNECTION_STRING still holds a placeholder such as <name> or <key>"},
		{"placeholder in send", []string{"send", "--to", "all", "--text", "hi"}, []string{"WEBPUBSUB_CONNECTION_STRING=" + placeholder, "WEBPUBSUB_HUB=chat"}, 2, "", "placeholder"},
		{"unreachable endpoint", []string{"send", "--to", "all", "--text", "hi"}, []string{"WEBPUBSUB_CONNECTION_STRING=Endpoint=http://127.0.0.1:1;AccessKey=abc;Version=1.0;", "WEBPUBSUB_HUB=chat"}, 1, "",
			"wpsfn send: cannot reach the service at 127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != nil {
				old := wpsEnviron
				wpsEnviron = func() []string { return tc.env }
				defer func() { wpsEnviron = old }()
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout with %q, stderr with %q", code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
			}
			if tc.stderr != "" && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
				t.Errorf("stderr is more than one line: %q", errb.String())
			}
			if tc.code == 0 && errb.Len() > 0 {
				t.Errorf("stderr on success: %q", errb.String())
			}
		})
	}
}

// A service that cannot be reached is tried twice, 200 ms apart, then said
// so (here: closed without an answer, which names what to check): the answer comes within a second instead of after the REST client's
// usual retries (seconds of silence at a prompt). Counted, not timed: the
// listener takes each attempt's connection and drops it.
func TestCLIUnreachableTriesTwice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var attempts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			c.Close()
		}
	}()
	old := wpsEnviron
	wpsEnviron = func() []string {
		return []string{"WEBPUBSUB_CONNECTION_STRING=Endpoint=http://" + ln.Addr().String() + ";AccessKey=abc;Version=1.0;", "WEBPUBSUB_HUB=chat"}
	}
	defer func() { wpsEnviron = old }()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"send", "--to", "all", "--text", "hi"}, &out, &errb)
	if n := attempts.Load(); code != 1 || n != 2 || strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 ||
		!strings.Contains(errb.String(), "the connection closed without an answer") {
		t.Errorf("exit %d after %d attempts, stderr %q; want 1 after 2 attempts, one line", code, n, errb.String())
	}
}
