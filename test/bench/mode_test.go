package bench

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
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

// BenchmarkScriptMode: Set of one attribute of a quiet session of
// sessionAttrs attributes, one per call, run as a Redis Functions
// library with FCALL (what a Store does on Redis 7 and later) against
// the same Set run as a script with EVALSHA (what it falls back to on
// older servers, forced here by the noFunctions hook on a second client
// of default options). EVALSHA defines lib.lua's helpers again on every
// call.
func BenchmarkScriptMode(b *testing.B) {
	e := newEnv(b)
	evalRdb := e.client(b, nil)
	evalRdb.AddHook(noFunctions{})
	eval := newStore(b, evalRdb)
	v := value(valueSize)
	p := e.pools(b, calls+1, e.unbound(e.store, typical()), e.unbound(eval, typical()))
	fcallPool, evalPool := p[0], p[1]
	compare(b, e, calls,
		side{cmds: writeCmds, op: func(i int) error { return evalPool[i].Set(ctx, target, v) }},
		side{cmds: writeCmds, op: func(i int) error { return fcallPool[i].Set(ctx, target, v) }})
}
