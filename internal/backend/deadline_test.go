package backend

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeadlinesBound(t *testing.T) {
	var ds Deadlines
	ctx, cancel := ds.Bound(context.Background(), 50*time.Millisecond)
	defer cancel()
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > 50*time.Millisecond+DeadlineStep || time.Until(dl) < 40*time.Millisecond {
		t.Fatalf("deadline in %v", time.Until(dl))
	}
	// Calls in the same step share it.
	ctx2, _ := ds.Bound(context.Background(), 50*time.Millisecond)
	if dl2, _ := ctx2.Deadline(); dl2.Sub(dl) > DeadlineStep {
		t.Fatalf("deadlines %v apart", dl2.Sub(dl))
	}
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatal(ctx.Err())
		}
	case <-time.After(time.Second):
		t.Fatal("the bound did not end the context")
	}
	// A parent with values keeps them; a sooner deadline is kept; a
	// cancellable parent gets a timer of its own.
	type key struct{}
	v := context.WithValue(context.Background(), key{}, "v")
	b, _ := ds.Bound(v, time.Second)
	if b.Value(key{}) != "v" || b.Done() == nil {
		t.Fatal("bound lost the parent's value or has no Done")
	}
	soon, c1 := context.WithTimeout(context.Background(), time.Millisecond)
	defer c1()
	if b, _ := ds.Bound(soon, time.Second); b != soon {
		t.Fatal("a sooner deadline was not kept")
	}
	parent, c2 := context.WithCancel(context.Background())
	b2, c3 := ds.Bound(parent, time.Hour)
	defer c3()
	c2()
	<-b2.Done()
}

// TestAbandonSharedDeadline: without ContextTimeoutEnabled a call's
// context ends at a shared step, whatever its parent, and abandon
// returns at that deadline, or as soon as the parent ends, while the
// call goes on; a call that answers first is answered.
func TestAbandonSharedDeadline(t *testing.T) {
	var ds Deadlines
	var room Room
	type key struct{}
	release := make(chan struct{})
	defer close(release)
	stuck := func(ctx context.Context) (int, error) {
		<-release
		return 1, nil
	}

	// The deadline ends the call, with the parent's values kept.
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancel()
	ctx := ds.shared(parent, 30*time.Millisecond, &room)
	if ctx != &room.step || ctx.Value(key{}) != "v" {
		t.Fatal("the bound is not in the room or lost the parent's value")
	}
	start := time.Now()
	if _, err := abandon(ctx, stuck); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandon at the deadline: %v", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > 5*time.Second {
		t.Fatalf("abandon returned after %v, want about 30ms", d)
	}

	// The parent's end ends it sooner.
	parent2, cancel2 := context.WithCancel(context.Background())
	ctx2 := ds.shared(parent2, 2*time.Second, nil)
	time.AfterFunc(20*time.Millisecond, cancel2)
	start = time.Now()
	if _, err := abandon(ctx2, stuck); !errors.Is(err, context.Canceled) {
		t.Fatalf("abandon after the parent ended: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("abandon returned %v after the parent ended", d)
	}

	// context.Background shares the step's own context; a sooner
	// deadline is kept; an answer comes back.
	if c := ds.shared(context.Background(), time.Second, &room); c == context.Context(&room.step) {
		t.Fatal("a Background parent took the room")
	}
	soon, c1 := context.WithTimeout(context.Background(), time.Millisecond)
	defer c1()
	if c := ds.shared(soon, time.Second, &room); c != soon {
		t.Fatal("a sooner deadline was not kept")
	}
	if v, err := abandon(ds.shared(context.Background(), time.Second, nil), func(context.Context) (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Fatalf("abandon of a call that answers: %d, %v", v, err)
	}
}
