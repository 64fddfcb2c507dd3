// Package upstream is the service side of Azure Web PubSub's upstream
// protocol: what the service (or the local emulator) does to call an event
// handler. A Caller builds each event's CloudEvents request (signed with
// ce-signature, and with a bearer token when configured), posts it, reads the
// handler's answer into package cloudevents' types, and runs the
// abuse-protection handshake the service performs before it delivers events.
//
// The zero Caller is ready to use: http.DefaultClient, no signature, no
// token. The emulator and tests use it; applications use package
// cloudevents' Handler on the other end.
package upstream
