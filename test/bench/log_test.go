package bench

import (
	"strconv"
	"testing"
)

// logField is the session hash field holding the resend log (see
// attrcache/record.go): a 12-byte header, then 10 bytes per entry.
const logField = "\x01"

// logEntries returns how many entries sess's resend log holds.
func logEntries(b *testing.B, sess *session) int {
	b.Helper()
	n, err := sess.rdb.HStrLen(ctx, sess.Key(), logField).Result()
	if err != nil {
		b.Fatalf("HSTRLEN: %v", err)
	}
	if n == 0 {
		return 0
	}
	return int(n-12) / 10
}

// logged empties sess's resend log, then writes n times (well within the
// log's retention, 30 seconds), so that the log holds n entries.
func logged(b *testing.B, sess *session, n int) {
	b.Helper()
	if err := sess.rdb.HDel(ctx, sess.Key(), logField).Err(); err != nil {
		b.Fatalf("HDEL: %v", err)
	}
	ns, v := names(getSessionSize), value(valueSize)
	for i := range n {
		if err := sess.Set(ctx, ns[i%len(ns)], v); err != nil {
			b.Fatalf("Set: %v", err)
		}
	}
	if got := logEntries(b, sess); got != n {
		b.Fatalf("the resend log holds %d entries, want %d", got, n)
	}
}

// BenchmarkResendLog measures what the exactly-once log costs a session
// of getSessionSize attributes of valueSize bytes.
//
// memory/entries=N: MEMORY USAGE (SAMPLES 0) of the session after N writes
// within the log's retention (B/session), of a copy of its fields without
// the log (nolog-B/session), their difference (log-B/session), and
// whether each is hashtable-encoded. A log of more than 5 entries is over
// 64 bytes, Redis's default hash-max-listpack-value, and turns the whole
// session into a hashtable (for good: Redis never converts back). The
// timed loop is the two MEMORY USAGE calls; its ns/op means nothing.
//
// write/entries=N: Set of one attribute when the log holds N entries
// (restored outside the timer before every call): the log is read,
// searched for the call's token, and written back whole on every write.
// With 0 entries the session is a listpack; with 255 it is a hashtable.
func BenchmarkResendLog(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	for _, n := range []int{1, 5, 6, 50, 256} {
		b.Run("memory/entries="+strconv.Itoa(n), func(b *testing.B) {
			sess := e.session(b)
			fill(b, sess, ns, v)
			logged(b, sess, n)
			all, err := e.rdb.HGetAll(ctx, sess.Key()).Result()
			if err != nil {
				b.Fatal(err)
			}
			bare := e.rawKey()
			args := make([]any, 0, 2*len(all))
			for f, x := range all {
				if f != logField {
					args = append(args, f, x)
				}
			}
			if err := e.rdb.HSet(ctx, bare, args...).Err(); err != nil {
				b.Fatal(err)
			}
			var with, without int64
			b.ResetTimer()
			for range b.N {
				with, without = e.memoryUsage(b, sess.Key()), e.memoryUsage(b, bare)
			}
			b.StopTimer()
			b.ReportMetric(float64(with), "B/session")
			b.ReportMetric(float64(without), "nolog-B/session")
			b.ReportMetric(float64(with-without), "log-B/session")
			b.ReportMetric(float64(logEntries(b, sess)), "log-entries")
			b.ReportMetric(e.hashtable(b, sess.Key()), "hashtable")
			b.ReportMetric(e.hashtable(b, bare), "nolog-hashtable")
		})
	}
	for _, n := range []int{0, 255} {
		b.Run("write/entries="+strconv.Itoa(n), func(b *testing.B) {
			sess := e.session(b)
			fill(b, sess, ns, v)
			logged(b, sess, n)
			saved, err := e.rdb.HGet(ctx, sess.Key(), logField).Result()
			if n > 0 && err != nil {
				b.Fatalf("HGET: %v", err)
			}
			restore := func() {
				if n == 0 {
					err = e.rdb.HDel(ctx, sess.Key(), logField).Err()
				} else {
					err = e.rdb.HSet(ctx, sess.Key(), logField, saved).Err()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			loop(b, e.rdb, writeCmds, 1, restore, func(int) error {
				return sess.Set(ctx, ns[getSessionSize/2], v)
			})
			b.ReportMetric(e.hashtable(b, sess.Key()), "hashtable")
		})
	}
}
