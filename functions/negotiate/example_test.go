package negotiate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/wpsfn/wpsfn/functions/negotiate"
)

// Local development: the user names themself with ?userId=. In production
// set JWTSecret (NEGOTIATE_JWT_SECRET) and send "Authorization: Bearer <JWT>".
func Example() {
	h, err := negotiate.New(negotiate.Config{
		ConnectionString: "Endpoint=http://localhost:8080;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFG=;Version=1.0;",
		Hub:              "chat",
		AllowQueryUser:   true,
		Roles:            []string{"webpubsub.joinLeaveGroup"},
		TokenLifetime:    time.Hour,
		AllowedOrigins:   []string{"http://localhost:3000"},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/negotiate?userId=alice", nil))
	var res negotiate.Response
	json.Unmarshal(w.Body.Bytes(), &res)
	fmt.Println(w.Code, res.BaseURL)
	fmt.Println(strings.HasPrefix(res.URL, res.BaseURL+"?access_token="+res.Token))
	// Output:
	// 200 ws://localhost:8080/client/hubs/chat
	// true
}
