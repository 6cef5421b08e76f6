package attrcache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestClockSample(t *testing.T) {
	base := time.Now()
	local := base
	c := clock{now: func() time.Time { return local }}
	if _, _, ok := c.estimate(); ok {
		t.Fatal("an estimate before any sample")
	}
	// A 4 ms round trip: Redis read 1,000,000 ms at some instant in it.
	c.observe(base, base.Add(4*time.Millisecond), 1_000_000)
	local = base.Add(time.Second)
	ms, bound, ok := c.estimate()
	if !ok || ms != 1_000_000+998 {
		t.Fatalf("estimate %d, want %d", ms, 1_000_000+998)
	}
	if bound < 3*time.Millisecond || bound > 4*time.Millisecond {
		t.Fatalf("bound %v, want half the round trip plus 1ms and a little drift", bound)
	}
	// A worse sample that agrees is ignored; a better one is taken.
	c.observe(local, local.Add(40*time.Millisecond), 1_000_000+998+20)
	if _, b, _ := c.estimate(); b > 4*time.Millisecond {
		t.Fatalf("a worse sample replaced a better one: bound %v", b)
	}
	c.observe(local, local.Add(time.Millisecond/2), 1_000_000+998)
	if _, b, _ := c.estimate(); b > 2*time.Millisecond {
		t.Fatalf("a better sample was not taken: bound %v", b)
	}
	// Redis's clock stepped by a minute: the disagreeing sample wins at
	// once, and does not count as skew between masters.
	c.observe(local, local.Add(2*time.Millisecond), 1_000_000+998+60_000)
	ms, bound, _ = c.estimate()
	if ms < 1_000_000+998+60_000-1 || ms > 1_000_000+998+60_000+2 || bound > 3*time.Millisecond {
		t.Fatalf("after a clock step: estimate %d, bound %v", ms, bound)
	}
	// Two masters 5 ms apart: the bound grows to cover both.
	c.observe(local, local.Add(time.Millisecond), 1_000_000+998+60_000+5)
	c.observe(local, local.Add(time.Millisecond), 1_000_000+998+60_000)
	if _, b, _ := c.estimate(); b < 5*time.Millisecond {
		t.Fatalf("masters 5ms apart, bound %v", b)
	}
	// Drift is allowed for: an hour-old sample is worth 360 ms less.
	local = local.Add(time.Hour)
	if _, b, _ := c.estimate(); b < 360*time.Millisecond {
		t.Fatalf("bound of an hour-old sample %v", b)
	}
}

// TestClockSkew runs a Store whose local clock is minutes off Redis's:
// expiry is still judged on Redis's clock, within the documented bound.
func TestClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{7 * time.Minute, -7 * time.Minute, 36 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { rdb.Close() })
			st, err := New(rdb)
			if err != nil {
				t.Fatal(err)
			}
			st.clock.now = func() time.Time { return time.Now().Add(skew) }
			ctx := context.Background()
			s, err := st.Start(ctx, "skewed", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			ms, bound, _ := st.clock.estimate()
			real := time.Now().UnixMilli()
			if d := time.Duration(ms-real) * time.Millisecond; d > bound || -d > bound {
				t.Fatalf("estimate off by %v, bound %v", d, bound)
			}
			if bound > 50*time.Millisecond {
				t.Fatalf("bound %v on loopback", bound)
			}
			if err := s.Create(ctx, "short", []byte("x"), WithExpiration(300*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			e, err := s.Get(ctx, "short")
			if err != nil {
				t.Fatalf("Get of a live attribute with a clock %v off: %v", skew, err)
			}
			if d := time.Until(e.Expires); d > 300*time.Millisecond || d < 200*time.Millisecond {
				t.Fatalf("expires in %v, want about 300ms", d)
			}
			ttl, err := s.TTL(ctx)
			if err != nil || ttl > time.Hour || ttl < time.Hour-time.Second {
				t.Fatalf("TTL %v, %v with a clock %v off", ttl, err, skew)
			}
			time.Sleep(350 * time.Millisecond)
			if _, err := s.Get(ctx, "short"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after expiry with a clock %v off: %v", skew, err)
			}
		})
	}
}
