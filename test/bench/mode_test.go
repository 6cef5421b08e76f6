package bench

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// noFunctions is a client hook that answers every FCALL as a server
// without Redis Functions would (Redis before 7.0), without sending it:
// a Store on such a client falls back to EVALSHA for good on its first
// write.
type noFunctions struct{}

// unknownCommand is the error a server without FCALL sends back.
type unknownCommand struct{}

func (unknownCommand) Error() string {
	return "ERR unknown command 'fcall', with args beginning with: "
}
func (unknownCommand) RedisError() {}

func (noFunctions) DialHook(next redis.DialHook) redis.DialHook { return next }

func (noFunctions) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "fcall" {
			cmd.SetErr(unknownCommand{})
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

func (noFunctions) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if cmd.Name() == "fcall" {
				cmd.SetErr(unknownCommand{})
				return cmd.Err()
			}
		}
		return next(ctx, cmds)
	}
}

// BenchmarkScriptMode: Create and Set run as a Redis Functions library
// with FCALL (what a Store does on Redis 7 and later) and as scripts with
// EVALSHA (what it falls back to on older servers and miniredis, forced
// here by the noFunctions hook on a second client of default options).
// Create and Set are the workloads of BenchmarkCreate and BenchmarkSet.
func BenchmarkScriptMode(b *testing.B) {
	e := newEnv(b)
	evalRdb := e.client(b, nil)
	evalRdb.AddHook(noFunctions{})
	modes := []struct {
		name  string
		store *attrcache.Store
	}{
		{"fcall", e.store},
		{"evalsha", newStore(b, evalRdb, attrcache.WithLimits(bigLimits))},
	}
	ns, v := names(perSession), value(valueSize)
	b.Run("Create", func(b *testing.B) {
		for _, m := range modes {
			b.Run(m.name, func(b *testing.B) {
				sess := e.sessionOf(b, m.store)
				loop(b, e.rdb, writeCmds, perSession, func() { sess.empty(b) }, func(i int) error {
					return sess.Create(ctx, ns[i], v)
				})
			})
		}
	})
	b.Run("Set", func(b *testing.B) {
		for _, m := range modes {
			b.Run(m.name, func(b *testing.B) {
				sess := e.sessionOf(b, m.store)
				fill(b, sess, ns[:getSessionSize], v)
				loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
					return sess.Set(ctx, ns[getSessionSize/2], v)
				})
			})
		}
	})
}
