package bench

import (
	"strconv"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// BenchmarkWorstCall: the heaviest single calls the default limits allow,
// each on a session of MaxAttributes (1,000) attributes of fullValueSize
// bytes (524,000 bytes of names and records, MaxSessionBytes being
// 512 KiB):
//
//   - CreateMany-1000: all of them in one call, into an empty session
//     (505,000 bytes of names and values: MaxCallBytes is 512 KiB);
//   - SetMany-1000: all of them replaced in one call;
//   - DeleteMany-1000: all of them deleted in one call;
//   - reclaim-step: a Set of one small attribute when all of them have
//     expired, which runs one reclaim step (HSCAN COUNT 8);
//   - Rotate: the full session moved to a new id (four calls, the
//     heaviest being the one that writes the new session whole);
//   - End: the full session ended (its key deleted inside the script);
//   - GetAll: the full session read (a plain HGETALL, which blocks Redis
//     as long as it runs like any command).
//
// Besides server-µs/op (all of a call's commands) each reports
// max-server-µs, the longest single command seen (SLOWLOG). Every timed
// call but SetMany and GetAll works on a session filled again outside
// the timer.
func BenchmarkWorstCall(b *testing.B) {
	e := newEnv(b)
	def := newStore(b, e.rdb)
	ns, v := names(fullAttrs), value(fullValueSize)
	batch := attrs(ns, v)
	refill := func(sess *session) func() {
		return func() {
			sess.empty(b)
			fill(b, sess, ns, v)
		}
	}
	b.Run("CreateMany-1000", func(b *testing.B) {
		sess := e.sessionOf(b, def)
		loopSlow(b, e.rdb, writeCmds, 1, func() { sess.empty(b) }, func(int) error {
			return sess.CreateMany(ctx, batch)
		})
	})
	b.Run("SetMany-1000", func(b *testing.B) {
		sess := e.fullSession(b, def)
		loopSlow(b, e.rdb, writeCmds, 0, nothing, func(int) error {
			return sess.SetMany(ctx, batch)
		})
	})
	b.Run("DeleteMany-1000", func(b *testing.B) {
		sess := e.sessionOf(b, def)
		loopSlow(b, e.rdb, writeCmds, 1, refill(sess), func(int) error {
			return sess.DeleteMany(ctx, ns)
		})
	})
	b.Run("reclaim-step", func(b *testing.B) {
		// A cycle takes about fullAttrs/8 steps; 50 writes stay inside one.
		const writes = 50
		sess := e.sessionOf(b, def)
		small := value(valueSize)
		loopSlow(b, e.rdb, writeCmds, writes, func() {
			sess.empty(b)
			fill(b, sess, ns, v, attrcache.WithExpiration(time.Millisecond))
			time.Sleep(5 * time.Millisecond)
		}, func(int) error {
			return sess.Set(ctx, "small", small)
		})
	})
	b.Run("Rotate", func(b *testing.B) {
		sess := e.sessionOf(b, def)
		var rotated *attrcache.Session
		next := 0
		// The scripts call HMGET and TIME themselves: count HGETALL only.
		loopSlow(b, e.rdb, append(cmds("hgetall"), writeCmds...), 1, func() {
			if rotated != nil {
				if err := e.rdb.Del(ctx, rotated.Key()).Err(); err != nil {
					b.Fatal(err)
				}
				rotated = nil
			}
			refill(sess)()
		}, func(int) error {
			next++
			r, err := sess.Rotate(ctx, sess.sid+"-rotated-"+strconv.Itoa(next))
			rotated = r
			return err
		})
	})
	b.Run("End", func(b *testing.B) {
		sess := e.sessionOf(b, def)
		loopSlow(b, e.rdb, writeCmds, 1, refill(sess), func(int) error {
			return sess.End(ctx)
		})
	})
	b.Run("GetAll", func(b *testing.B) {
		sess := e.fullSession(b, def)
		loopSlow(b, e.rdb, readCmds, 0, nothing, func(int) error {
			_, err := sess.GetAll(ctx)
			return err
		})
	})
}
