// Package e2e holds the end-to-end tests of pkg/wps against the local
// emulator: every REST operation is driven through a wps.Client while real
// WebSocket clients (json.webpubsub.azure.v1) observe what actually arrives.
// The package has no non-test code; run it with `go test -race ./test/e2e`.
package e2e
