package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/wpsfn/wpsfn/cmd/wpsfn/internal/web"
	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/internal/syncbuf"
)

// The chat page checks the message function's limits as configured, read
// from /config.json: the defaults when nothing is set (not a second copy of
// them in the page), the environment's values when set.
func TestDevConfigHasTheMessageFunctionsLimits(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want web.ChatLimits
	}{
		{nil, web.ChatLimits{MaxTextRunes: message.DefaultMaxTextRunes, MaxBytes: message.DefaultMaxBytes, RoomPattern: message.DefaultRoomPattern}},
		{map[string]string{"MESSAGE_MAX_TEXT_RUNES": "20", "MESSAGE_MAX_BYTES": "300", "MESSAGE_ROOM_PATTERN": "^[a-z]+$"},
			web.ChatLimits{MaxTextRunes: 20, MaxBytes: 300, RoomPattern: "^[a-z]+$"}},
	} {
		st, stop := launchDevWith(t, devOptions{Environ: tc.env, Device: false})
		resp, err := http.Get(st.BaseURL + "/config.json")
		if err != nil {
			t.Fatal(err)
		}
		var cfg web.Config
		err = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Limits != tc.want {
			t.Errorf("environment %v: /config.json limits %+v, want %+v", tc.env, cfg.Limits, tc.want)
		}
		if err := stop(); err != nil {
			t.Error(err)
		}
	}
}

// An address in use is said in one line with what to do about it.
func TestDevAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	_, port, _ := net.SplitHostPort(taken)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", taken, "--port-base", "0"}, "another wpsfn dev or emulator running? --addr picks another address"},
		// The function ports start at --port-base: the taken port is connect's.
		{[]string{"--addr", "127.0.0.1:0", "--port-base", port}, "another --port-base, or 0 for free ports"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"dev", "--device=false"}, tc.args...), &out, &errb)
		msg := strings.TrimSpace(errb.String())
		if code != 1 || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "address already in use") || strings.Contains(msg, "\n") {
			t.Errorf("dev %v: exit %d, stderr %q; want one line saying %q", tc.args, code, msg, tc.want)
		}
	}
}

// `make run` starts without a warning: the negotiate function's warning
// about NEGOTIATE_ALLOW_QUERY_USER is dropped when dev turned it on itself,
// and kept when the user's environment did.
func TestDevStartsWithoutWarnings(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		warn bool
	}{
		{nil, false},
		{map[string]string{"NEGOTIATE_ALLOW_QUERY_USER": "true"}, true},
	} {
		var logs syncbuf.Buffer
		_, stop := launchDevWith(t, devOptions{Environ: tc.env, Device: false,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
		if err := stop(); err != nil {
			t.Error(err)
		}
		got := logs.String()
		if warned := strings.Contains(got, "level=WARN"); warned != tc.warn || tc.warn && !strings.Contains(got, "NEGOTIATE_ALLOW_QUERY_USER is on") {
			t.Errorf("environment %v: warned %t, want %t; logs:\n%s", tc.env, warned, tc.warn, got)
		}
	}
}
