package cloudevents

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestCallCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	c := newCallCtx(parent, time.Hour)
	if c.Value(ctxKey{}) != "v" || c.Err() != nil {
		t.Fatal("value or early error")
	}
	if d, ok := c.Deadline(); !ok || time.Until(d) < 59*time.Minute {
		t.Fatalf("deadline %v", d)
	}
	done := c.Done()
	child, stop := context.WithCancel(c) // a derived context follows ours
	defer stop()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("parent cancellation did not reach Done")
	}
	<-child.Done()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err %v", c.Err())
	}

	// Deadline: Err before anyone called Done, then Done already closed.
	c = newCallCtx(context.Background(), time.Hour)
	c.cancel(context.DeadlineExceeded)
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done open after the deadline")
	}
	// A parent already cancelled shows through Err without Done.
	p2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if c := newCallCtx(p2, time.Hour); !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err %v", c.Err())
	}
	// release ends it and unlinks it.
	c = newCallCtx(context.Background(), time.Hour)
	d := c.Done()
	c.release()
	<-d
}
