package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDevKeyless runs `wpsfn dev --keyless`: the emulator with
// disableLocalAuth, every function on the emulator's managed identity (the
// real azidentity ManagedIdentityCredential) and upstream calls
// authenticated by Entra tokens only. Clients connect through negotiate
// (:generateToken), are greeted (REST), and chat (upstream, then REST).
func TestDevKeyless(t *testing.T) {
	t.Setenv("IDENTITY_ENDPOINT", "") // restored after the test; runDev sets them
	t.Setenv("IDENTITY_HEADER", "")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *devStack, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, devOptions{Addr: "127.0.0.1:0", Hub: "chat", Keyless: true,
			Environ: map[string]string{}, ShutdownTimeout: 2 * time.Second, Logger: testLogger(t),
			Ready: func(st *devStack) { ready <- st }})
	}()
	var st *devStack
	select {
	case st = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("runDev: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("not ready")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}()
	alice, bob := dial(t, st, "alice"), dial(t, st, "bob")
	for _, c := range []*wsClient{alice, bob} {
		c.expect("connected", func(m map[string]any) bool { return m["type"] == "system" && m["event"] == "connected" })
		c.expect("welcome", func(m map[string]any) bool { return data(m)["type"] == "system" })
		c.send(map[string]any{"type": "joinGroup", "group": "lobby", "ackId": 1})
		if ack := c.expect("join ack", isAck(1)); ack["success"] != true {
			t.Fatalf("join: %v", ack)
		}
	}
	alice.send(map[string]any{"type": "event", "event": "message", "dataType": "json", "ackId": 2,
		"data": map[string]any{"room": "lobby", "text": "hello bob"}})
	got := bob.expect("alice's message", func(m map[string]any) bool { return data(m)["type"] == "message" })
	if d := data(got); d["from"] != "alice" || d["text"] != "hello bob" {
		t.Fatalf("bob received %v", got)
	}
	// Every step above needed the keyless chain: connect and message
	// accept only the emulator tenant's Entra token (the emulator sends no
	// ce-signature), the greeting and the room message went through REST with
	// the managed identity's token, negotiate through :generateToken.
	if st.ConnectionString != "" {
		t.Fatalf("keyless mode hands out a connection string: %q", st.ConnectionString)
	}
}
