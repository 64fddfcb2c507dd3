package emulator

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// openFDs is the number of this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestDroppedReliableSocketsLeakNothing: reliable clients that vanish without
// a close (a network failure) keep their session for the reconnect window;
// once the sessions expire, file descriptors, goroutines and heap are back
// where they were.
func TestDroppedReliableSocketsLeakNothing(t *testing.T) {
	const n = 200
	e := newEnv(t, Config{ReconnectWindow: 300 * time.Millisecond})
	drop := func(k int) {
		for range k {
			cl, _, _ := e.connectReliable(t, "u")
			cl.c.CloseNow() // no close frame: the server sees the connection lost
		}
		eventually(t, "sessions expired", func() bool { return len(e.s.hub("chat").connections()) == 0 })
	}
	drop(5) // warm up: the test client's pools, the hub
	time.Sleep(100 * time.Millisecond)
	fds, gs, heap := openFDs(t), runtime.NumGoroutine(), heapInuse()

	drop(n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, g, h := openFDs(t), runtime.NumGoroutine(), heapInuse()
		if f <= fds+2 && g <= gs+2 && h <= heap+2<<20 {
			t.Logf("after %d dropped reliable clients: fds %d → %d, goroutines %d → %d, heap %d → %d KiB", n, fds, f, gs, g, heap>>10, h>>10)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d dropped reliable clients whose sessions expired: fds %d → %d, goroutines %d → %d, heap %d → %d KiB",
				n, fds, f, gs, g, heap>>10, h>>10)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
