// Package cloudevents implements Azure Web PubSub's upstream protocol (the
// "event handler" the service calls over HTTP with CloudEvents in binary
// mode) on both ends:
//
//   - Handler is a plain net/http handler for an application: it answers
//     the abuse-protection handshake, authenticates every event before any
//     callback runs (ce-signature against rotating Keys, or any
//     Authenticator), bounds bodies, decodes connect, user, connected,
//     disconnected and group events into typed requests, and writes typed
//     responses and connection state back. Notification callbacks run before
//     the answer is written, so the handler is correct on FaaS hosts that
//     freeze the process right after a response.
//   - EncodeEvent, Sign, Keys.Sign and Answer are the wire format of the
//     service side; package upstream's Caller uses them to call a handler as
//     the service does (the local emulator and tests use it).
//
// A complete handler:
//
//	keys := cloudevents.NewKeys(primaryKey, secondaryKey) // keys.Set(...) rotates them while serving
//	h := &cloudevents.Handler{
//		Hub:  "chat",
//		Keys: keys,
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
//	}
//	if err := h.Validate(); err != nil { // optional: the first request checks it too
//		log.Fatal(err)
//	}
//	http.Handle("/eventhandler", h)
//
// Authentication fails closed: a Handler without Keys or an Authenticator
// refuses every event with 401. NoAuthentication turns the check off, for
// local use only; AnyOf and AllOf combine authenticators (ce-signature and an
// Entra bearer token, say).
//
// Errors: a callback refuses with Errorf(status, ...) (400, 401, 403, 500) or,
// for MQTT connects, MQTTErrorf(code, ...); the handler answers that status
// with a one-line plain-text body, or the {"mqtt":{"code","reason"}} JSON for
// MQTT. Any other error is a 500 that does not reveal its text. Protocol
// violations get 400 (malformed body, missing ce- headers, unknown event
// type, bad connection state), 401 (authentication), 404 (other hub) or 413 (body
// over MaxBodyBytes), each with a one-line reason and a log line. A
// configuration error (see Handler.Validate) is a 500 for every request.
//
// Connection state travels in the ce-connectionState header as base64 of a
// JSON object, the same encoding as Microsoft's @azure/web-pubsub-express, so
// either library reads what the other wrote. Read it with req.State().Get;
// change it with SetState, DeleteState and ClearStates on the response. The
// whole merged state is sent back; clearing sends an empty object, so the
// service really forgets it.
package cloudevents
