package envelope_test

import (
	"encoding/json"
	"fmt"

	"github.com/wpsfn/wpsfn/functions/envelope"
	"github.com/wpsfn/wpsfn/functions/relay"
)

// A producer builds the message it puts on the relay's queue (an SQS
// message body, a Storage queue message, a Pub/Sub message's data).
func Example() {
	e := envelope.Envelope{To: "group", ID: "orders", JSON: json.RawMessage(`{"order":42,"status":"shipped"}`), TTL: 60}
	body, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(body))
	fmt.Println("the relay sends it:", relay.CheckEnvelope(body) == nil)

	text := "maintenance at noon"
	body, _ = json.Marshal(envelope.Envelope{To: "all", Text: &text, Excluded: []string{"conn-1"}})
	fmt.Println(string(body))
	// Output:
	// {"to":"group","id":"orders","json":{"order":42,"status":"shipped"},"ttl":60}
	// the relay sends it: true
	// {"to":"all","text":"maintenance at noon","excluded":["conn-1"]}
}
