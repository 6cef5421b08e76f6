package bench

import (
	"strconv"
	"testing"

	"github.com/attrcache/attrcache/attrcache"
)

// batchSizes are the sizes of the *Many benchmarks.
var batchSizes = []int{10, 100}

// BenchmarkCreateMany: CreateMany of n fresh names vs n pipelined HSETNX
// and vs one n-field HSET. As in BenchmarkCreate, every hash grows to
// perSession fields, then is emptied outside the timer.
func BenchmarkCreateMany(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	for _, n := range batchSizes {
		every := perSession / n
		batches := make([][]attrcache.Attr, every)
		nameBatches := make([][]string, every)
		for i := range batches {
			nameBatches[i] = prefixed("attr-"+strconv.Itoa(i)+"-", n)
			batches[i] = attrs(nameBatches[i], v)
		}
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("attrcache", func(b *testing.B) {
				sess := e.session(b)
				loop(b, e.rdb, writeCmds, every, func() { sess.empty(b) }, func(i int) error {
					return sess.CreateMany(ctx, batches[i])
				})
			})
			b.Run("raw-pipelined-HSETNX", func(b *testing.B) {
				key, pipe := e.rawKey(), e.rdb.Pipeline()
				loop(b, e.rdb, cmds("hsetnx"), every, func() { e.emptyRaw(b, key) }, func(i int) error {
					for _, name := range nameBatches[i] {
						pipe.HSetNX(ctx, key, name, v)
					}
					_, err := pipe.Exec(ctx)
					return err
				})
			})
			b.Run("raw-HSET", func(b *testing.B) {
				key := e.rawKey()
				loop(b, e.rdb, cmds("hset"), every, func() { e.emptyRaw(b, key) }, func(i int) error {
					args := make([]any, 0, 2*n)
					for _, name := range nameBatches[i] {
						args = append(args, name, v)
					}
					return e.rdb.HSet(ctx, key, args...).Err()
				})
			})
		})
	}
}

// BenchmarkGetMany: GetMany of n names of a session holding perSession
// attributes vs n pipelined HGET and one n-field HMGET.
func BenchmarkGetMany(b *testing.B) {
	e := newEnv(b)
	all, v := names(perSession), value(valueSize)
	for _, n := range batchSizes {
		ns := all[:n]
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("attrcache", func(b *testing.B) {
				sess := e.session(b)
				fill(b, sess, all, v)
				loop(b, e.rdb, readCmds, 0, nothing, func(int) error {
					_, err := sess.GetMany(ctx, ns)
					return err
				})
			})
			b.Run("raw-pipelined-HGET", func(b *testing.B) {
				key, pipe := e.rawKey(), e.rdb.Pipeline()
				e.fillRaw(b, key, all, v)
				loop(b, e.rdb, cmds("hget"), 0, nothing, func(int) error {
					for _, name := range ns {
						pipe.HGet(ctx, key, name)
					}
					_, err := pipe.Exec(ctx)
					return err
				})
			})
			b.Run("raw-HMGET", func(b *testing.B) {
				key := e.rawKey()
				e.fillRaw(b, key, all, v)
				loop(b, e.rdb, cmds("hmget"), 0, nothing, func(int) error {
					return e.rdb.HMGet(ctx, key, ns...).Err()
				})
			})
		})
	}
}

// BenchmarkSetMany: SetMany replacing n attributes of a session holding
// perSession vs n pipelined HSET and one n-field HSET.
func BenchmarkSetMany(b *testing.B) {
	e := newEnv(b)
	all, v := names(perSession), value(valueSize)
	for _, n := range batchSizes {
		ns := all[:n]
		batch := attrs(ns, v)
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("attrcache", func(b *testing.B) {
				sess := e.session(b)
				fill(b, sess, all, v)
				loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
					return sess.SetMany(ctx, batch)
				})
			})
			b.Run("raw-pipelined-HSET", func(b *testing.B) {
				key, pipe := e.rawKey(), e.rdb.Pipeline()
				e.fillRaw(b, key, all, v)
				loop(b, e.rdb, cmds("hset"), 0, nothing, func(int) error {
					for _, name := range ns {
						pipe.HSet(ctx, key, name, v)
					}
					_, err := pipe.Exec(ctx)
					return err
				})
			})
			b.Run("raw-HSET", func(b *testing.B) {
				key := e.rawKey()
				e.fillRaw(b, key, all, v)
				loop(b, e.rdb, cmds("hset"), 0, nothing, func(int) error {
					args := make([]any, 0, 2*n)
					for _, name := range ns {
						args = append(args, name, v)
					}
					return e.rdb.HSet(ctx, key, args...).Err()
				})
			})
		})
	}
}

// BenchmarkGetAll: GetAll of a session holding n attributes vs raw
// HGETALL of a hash holding as many.
func BenchmarkGetAll(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	for _, n := range batchSizes {
		ns := names(n)
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("attrcache", func(b *testing.B) {
				sess := e.session(b)
				fill(b, sess, ns, v)
				loop(b, e.rdb, readCmds, 0, nothing, func(int) error {
					_, err := sess.GetAll(ctx)
					return err
				})
			})
			b.Run("raw-HGETALL", func(b *testing.B) {
				key := e.rawKey()
				e.fillRaw(b, key, ns, v)
				loop(b, e.rdb, cmds("hgetall"), 0, nothing, func(int) error {
					return e.rdb.HGetAll(ctx, key).Err()
				})
			})
		})
	}
}
