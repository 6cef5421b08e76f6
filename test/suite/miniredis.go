package suite

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Miniredis returns a Backend on mr. Its clock is the real one, because
// reads judge expiry in Go against an estimate of Redis's clock: Advance
// waits for time to pass, and moves miniredis's key TTLs with it.
func Miniredis(t testing.TB, mr *miniredis.Miniredis) Backend {
	newClient := func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) }
	rdb := newClient()
	t.Cleanup(func() { _ = rdb.Close() })
	return Backend{
		Client:    rdb,
		NewClient: newClient,
		Advance: func(d time.Duration) {
			time.Sleep(d)
			mr.FastForward(d)
		},
	}
}
