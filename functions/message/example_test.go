package message_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"time"

	"github.com/wpsfn/wpsfn/functions/message"
	"github.com/wpsfn/wpsfn/pkg/cloudevents"
	"github.com/wpsfn/wpsfn/pkg/cloudevents/upstream"
)

var randomID = regexp.MustCompile(`"id":"[^"]*"`)

const accessKey = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG="

// Point the hub's event handler (user events "message") at this function.
// Here pkg/cloudevents' service side plays Web PubSub, and a small server
// prints the REST call the function makes.
func Example() {
	rest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		b = randomID.ReplaceAll(b, []byte(`"id":"<random>"`))
		fmt.Printf("service got %s %s\n  %s\n", r.Method, r.URL.EscapedPath(), b)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer rest.Close()

	h, err := message.New(message.Config{
		ConnectionString: "Endpoint=" + rest.URL + ";AccessKey=" + accessKey + ";Version=1.0;",
		Hub:              "chat",
		Events:           []string{"message"},
		MaxBytes:         4096,
		MaxTextRunes:     1000,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:              func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	fn := httptest.NewServer(h)
	defer fn.Close()
	service := &upstream.Caller{Keys: cloudevents.NewKeys(accessKey)} // what Web PubSub does

	// A client sent {"type":"event","event":"message","dataType":"json","data":{...}}.
	ans, err := service.Send(context.Background(), fn.URL, &cloudevents.UserEventRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "conn-1", UserID: "alice", EventName: "message"},
		Data:              []byte(`{"room":"lobby","text":"hello"}`),
		DataType:          cloudevents.DataJSON,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("reply to the sender:", ans.Status, ans.Header.Get("Content-Type"), len(ans.Body) > 0)

	ans, _ = service.Send(context.Background(), fn.URL, &cloudevents.UserEventRequest{
		ConnectionContext: cloudevents.ConnectionContext{Hub: "chat", ConnectionID: "conn-1", UserID: "alice", EventName: "message"},
		Data:              []byte(`{"room":"lobby","text":""}`),
		DataType:          cloudevents.DataJSON,
	})
	fmt.Println("refused:", ans.Status, string(ans.Body))
	// Output:
	// service got POST /api/hubs/chat/groups/lobby/:send
	//   {"type":"message","id":"<random>","room":"lobby","from":"alice","text":"hello","time":"2026-11-27T12:00:00.000Z"}
	// reply to the sender: 200 application/json; charset=utf-8 true
	// refused: 400 "text" is empty
}
