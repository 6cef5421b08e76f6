package bench

import (
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// allocRuns is how many calls testing.AllocsPerRun averages.
const allocRuns = 2000

// BenchmarkAllocs: heap allocations per call in the client process
// (testing.AllocsPerRun: the average over allocRuns calls, rounded
// down) of Get vs raw HGET and Set vs raw HSET, on a session and a raw
// hash of sessionAttrs attributes, with a go-redis client of default
// options but ContextTimeoutEnabled true or false. The Store bounds
// every call by its call timeout either way: with ContextTimeoutEnabled
// the client takes the deadline to its socket, and the Store passes it
// in a context that only reports it; without, the Store makes a real
// deadline (a timer) and waits for the command on a goroutine of its
// own, so that a frozen Redis costs the caller its deadline, not the
// client's read timeout and retries. The raw commands run with
// context.Background on the same client.
func BenchmarkAllocs(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	for _, on := range []bool{true, false} {
		b.Run("ctxtimeout="+strconv.FormatBool(on), func(b *testing.B) {
			rdb := e.client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = on })
			st := newStore(b, rdb)
			sess := e.session(b, st, typical())
			raw := e.rawKey()
			e.fillRaw(b, raw, typical(), sessionTTL)
			var failed error
			check := func(err error) {
				if err != nil && failed == nil {
					failed = err
				}
			}
			for _, c := range []struct {
				unit string
				op   func()
			}{
				{"get-allocs/op", func() { _, err := sess.Get(ctx, target); check(err) }},
				{"hget-allocs/op", func() { check(rdb.HGet(ctx, raw, target).Err()) }},
				{"set-allocs/op", func() { check(sess.Set(ctx, target, v)) }},
				{"hset-allocs/op", func() { check(rdb.HSet(ctx, raw, target, v).Err()) }},
			} {
				for range 10 {
					c.op()
				}
				b.ReportMetric(testing.AllocsPerRun(allocRuns, c.op), c.unit)
			}
			if failed != nil {
				b.Fatal(failed)
			}
		})
	}
}
