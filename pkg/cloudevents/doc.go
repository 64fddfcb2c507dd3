// Package cloudevents implements Azure Web PubSub's upstream protocol (the
// "event handler" the service calls over HTTP with CloudEvents in binary
// mode) on both ends:
//
//   - NewHandler returns a plain net/http handler for an application: it
//     answers the abuse-protection handshake, verifies every event's
//     ce-signature against the access keys before any callback runs, bounds
//     bodies, decodes connect, user, connected, disconnected and group events
//     into typed requests, and writes typed responses and connection state
//     back. Notification callbacks run before the answer is written, so the
//     handler is correct on FaaS hosts that freeze the process right after a
//     response.
//   - NewRequest, Sign, Send, ReadAnswer and Validate are the service side, used
//     by the local emulator and by tests: they build signed requests for each
//     event type, read a handler's answer into the same types, and run the
//     abuse-protection handshake.
//
// A complete handler:
//
//	h, err := cloudevents.NewHandler(cloudevents.Options{
//		Hub:              "chat",
//		ConnectionString: cs, // from wps.ParseConnectionString; its key verifies signatures
//		Connect: func(ctx context.Context, req *cloudevents.ConnectRequest) (*cloudevents.ConnectResponse, error) {
//			user := req.Query["user"]
//			if len(user) == 0 {
//				return nil, cloudevents.Errorf(401, "who are you?")
//			}
//			return &cloudevents.ConnectResponse{UserID: user[0], Groups: []string{"lobby"}}, nil
//		},
//		UserEvent: func(ctx context.Context, req *cloudevents.UserEventRequest) (*cloudevents.UserEventResponse, error) {
//			return &cloudevents.UserEventResponse{Data: req.Data, DataType: req.DataType}, nil
//		},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	http.Handle("/eventhandler", h)
//
// Errors: a callback refuses with Errorf(status, ...) (400, 401, 403, 500) or,
// for MQTT connects, MQTTErrorf(code, ...); the handler answers that status
// with a one-line plain-text body, or the {"mqtt":{"code","reason"}} JSON for
// MQTT. Any other error is a 500 that does not reveal its text. Protocol
// violations get 400 (malformed body, missing ce- headers, unknown event
// type, bad connection state), 401 (signature), 404 (other hub) or 413 (body
// over MaxBodyBytes), each with a one-line reason and a log line.
//
// Connection state travels in the ce-connectionState header as base64 of a
// JSON object, the same encoding as Microsoft's @azure/web-pubsub-express, so
// either library reads what the other wrote. Read it with req.State().Get;
// change it with SetState, DeleteState and ClearStates on the response. The
// whole merged state is sent back; clearing sends an empty object, so the
// service really forgets it.
package cloudevents
