package relay_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/wpsfn/wpsfn/functions/relay"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestWindow(t *testing.T) {
	t.Run("expires after the ttl", func(t *testing.T) {
		c := &clock{time.Unix(1000, 0)}
		w := relay.NewWindow(time.Minute, 10, 1<<20, c.now)
		if v := w.Begin("a"); v != "fresh" {
			t.Fatal(v)
		}
		if v := w.Begin("a"); v != "in flight" {
			t.Fatal(v)
		}
		w.Finish("a")
		c.t = c.t.Add(59 * time.Second)
		if v := w.Begin("a"); v != "seen" {
			t.Fatal(v)
		}
		c.t = c.t.Add(time.Second)
		if v := w.Begin("a"); v != "fresh" {
			t.Fatalf("after the ttl: %s", v)
		}
		w.Abort("a")
		if v := w.Begin("a"); v != "fresh" {
			t.Fatalf("after abort: %s", v)
		}
	})
	t.Run("bounded in count", func(t *testing.T) {
		c := &clock{time.Unix(1000, 0)}
		w := relay.NewWindow(time.Hour, 3, 1<<20, c.now)
		for i := range 5 {
			id := strconv.Itoa(i)
			w.Begin(id)
			w.Finish(id)
		}
		if n, _ := w.Size(); n != 3 {
			t.Fatalf("%d ids kept, want 3", n)
		}
		if v := w.Begin("1"); v != "fresh" {
			t.Fatalf("oldest id: %s, want forgotten", v)
		}
		if v := w.Begin("4"); v != "seen" {
			t.Fatalf("newest id: %s", v)
		}
	})
	t.Run("bounded in bytes", func(t *testing.T) {
		c := &clock{time.Unix(1000, 0)}
		per := int64(10 + relay.SeenOverhead)
		w := relay.NewWindow(time.Hour, 1000, 2*per, c.now)
		for _, id := range []string{"0123456789", "abcdefghij", "ABCDEFGHIJ"} {
			w.Begin(id)
			w.Finish(id)
		}
		if n, b := w.Size(); n != 2 || b != 2*per {
			t.Fatalf("%d ids, %d bytes; want 2, %d", n, b, 2*per)
		}
	})
	t.Run("refinished id counted once", func(t *testing.T) {
		c := &clock{time.Unix(1000, 0)}
		w := relay.NewWindow(time.Minute, 10, 1<<20, c.now)
		w.Begin("a")
		w.Finish("a")
		c.t = c.t.Add(2 * time.Minute)
		w.Begin("a")
		w.Finish("a")
		if n, b := w.Size(); n != 1 || b != 1+relay.SeenOverhead {
			t.Fatalf("%d ids, %d bytes", n, b)
		}
		c.t = c.t.Add(30 * time.Second)
		if v := w.Begin("a"); v != "seen" {
			t.Fatal(v)
		}
	})
}
