package azurefn_test

import (
	"fmt"
	"time"

	"github.com/wpsfn/wpsfn/pkg/faas/azurefn"
)

// ParseTime reads the timestamps the Azure Functions host writes.
func ExampleParseTime() {
	for _, s := range []string{"2026-09-24T13:08:00.0096035+00:00", "9/24/2026 1:08:00 PM", "/Date(1790255280000)/"} {
		t, err := azurefn.ParseTime(s)
		if err != nil {
			panic(err)
		}
		fmt.Println(t.Format(time.RFC3339Nano))
	}
	// Output:
	// 2026-09-24T13:08:00.0096035Z
	// 2026-09-24T13:08:00Z
	// 2026-09-24T13:08:00Z
}

// A function deployed with bindings besides HTTP reads them from the
// invocation in its request's context (azurefn.FromContext(r.Context())).
func ExampleInvocation_Binding() {
	inv, err := azurefn.Decode([]byte(`{"Data":{"req":{"Url":"http://h/api/negotiate","Method":"GET"},"connection":{"url":"wss://h/client"}},"Metadata":{}}`))
	if err != nil {
		panic(err)
	}
	var conn struct {
		URL string `json:"url"`
	}
	fmt.Println(inv.Binding("connection", &conn), conn.URL)
	// Output: true wss://h/client
}
