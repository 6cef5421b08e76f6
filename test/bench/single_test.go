package bench

import (
	"testing"
)

// perSession is how many attributes the Create benchmarks put in one
// session before it is emptied (outside the timer): sessions stay in the
// size range real ones have and in Redis's listpack encoding.
const perSession = 100

// BenchmarkCreate: Create of a fresh name vs raw HSETNX of a fresh field,
// both into a hash that grows from empty to perSession fields, then is
// emptied.
func BenchmarkCreate(b *testing.B) {
	e := newEnv(b)
	ns, v := names(perSession), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		loop(b, e.rdb, writeCmds, perSession, func() { sess.empty(b) }, func(i int) error {
			return sess.Create(ctx, ns[i], v)
		})
	})
	b.Run("raw-HSETNX", func(b *testing.B) {
		key := e.rawKey()
		loop(b, e.rdb, cmds("hsetnx"), perSession, func() { e.emptyRaw(b, key) }, func(i int) error {
			return e.rdb.HSetNX(ctx, key, ns[i], v).Err()
		})
	})
}

// getSessionSize is how many attributes the read benchmarks' session holds.
const getSessionSize = 10

// BenchmarkGet: Get vs raw HGET of one attribute of a session holding
// getSessionSize.
func BenchmarkGet(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		fill(b, sess, ns, v)
		loop(b, e.rdb, readCmds, 0, nothing, func(int) error {
			_, err := sess.Get(ctx, ns[getSessionSize/2])
			return err
		})
	})
	b.Run("raw-HGET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		loop(b, e.rdb, cmds("hget"), 0, nothing, func(int) error {
			return e.rdb.HGet(ctx, key, ns[getSessionSize/2]).Err()
		})
	})
}

// BenchmarkExists: Exists vs raw HEXISTS, as BenchmarkGet.
func BenchmarkExists(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		fill(b, sess, ns, v)
		loop(b, e.rdb, readCmds, 0, nothing, func(int) error {
			_, err := sess.Exists(ctx, ns[getSessionSize/2])
			return err
		})
	})
	b.Run("raw-HEXISTS", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		loop(b, e.rdb, cmds("hexists"), 0, nothing, func(int) error {
			return e.rdb.HExists(ctx, key, ns[getSessionSize/2]).Err()
		})
	})
}

// BenchmarkSet: Set replacing one attribute of a session holding
// getSessionSize vs raw HSET of one field of a hash holding as many.
// The session is written on every call, so its resend log holds its most
// entries (256) and the session is hashtable-encoded (see
// BenchmarkResendLog for a session written rarely).
func BenchmarkSet(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		fill(b, sess, ns, v)
		loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
			return sess.Set(ctx, ns[getSessionSize/2], v)
		})
	})
	b.Run("raw-HSET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		loop(b, e.rdb, cmds("hset"), 0, nothing, func(int) error {
			return e.rdb.HSet(ctx, key, ns[getSessionSize/2], v).Err()
		})
	})
}
