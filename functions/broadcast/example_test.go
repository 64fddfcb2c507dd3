package broadcast_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/functions/broadcast"
)

// fakeService stands in for the Web PubSub REST API and prints each call; in
// production the connection string points at the Azure resource.
func fakeService() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("service got %s %s %s\n", r.Method, r.URL.EscapedPath(), b)
		w.WriteHeader(http.StatusAccepted)
	}))
}

// Serve the broadcast function on any Go server (or, with faas.Run, on
// Lambda, Azure Functions or locally), then call it with the shared secret.
func Example() {
	svc := fakeService()
	defer svc.Close()

	h, err := broadcast.New(broadcast.Config{
		ConnectionString: "Endpoint=" + svc.URL + ";AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG=;Version=1.0;",
		Hub:              "chat",
		Secret:           "a-long-shared-secret",
		MaxBodyBytes:     64 << 10,
		AllowedTargets:   []string{"all", "group"},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"to":"group","id":"lobby","text":"maintenance at noon"}`))
	req.Header.Set("Authorization", "Bearer a-long-shared-secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	// Output:
	// service got POST /api/hubs/chat/groups/lobby/:send maintenance at noon
	// 202 {"to":"group","id":"lobby","type":"text","bytes":19}
}

// The scheduled trigger renders its message with the tick's time.
func ExampleNewSchedule() {
	svc := fakeService()
	defer svc.Close()

	tick, err := broadcast.NewSchedule(broadcast.ScheduleConfig{
		ConnectionString: "Endpoint=" + svc.URL + ";AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG=;Version=1.0;",
		Hub:              "chat",
		Target:           "group:lobby",
		Message:          broadcast.DefaultScheduleMessage,
		ContentType:      "json",
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	if err := tick(context.Background(), time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)); err != nil {
		panic(err)
	}
	// Output:
	// service got POST /api/hubs/chat/groups/lobby/:send {"type":"heartbeat","time":"2026-11-27T12:00:00.000Z"}
}
