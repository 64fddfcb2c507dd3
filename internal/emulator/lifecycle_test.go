package emulator

import (
	"sync"
	"testing"
	"time"
)

// Add during a Wait at zero must not panic (sync.WaitGroup would: "reused
// before previous Wait has returned"), and Wait returns once the count is zero.
func TestActivityAddDuringWait(t *testing.T) {
	var a activity
	for range 200 {
		a.Add(1)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a.Wait() }()
		go func() { defer wg.Done(); a.Done(); a.Add(1); a.Done() }()
		wg.Wait()
	}
	a.Add(1)
	waited := make(chan struct{})
	go func() { a.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while the count was 1")
	case <-time.After(20 * time.Millisecond):
	}
	a.Done()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return at zero")
	}
}
