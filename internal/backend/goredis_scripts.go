package backend

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/attrcache/attrcache/internal/format"
	"github.com/redis/go-redis/v9"
)

// Running attrcache's scripts on go-redis: as Functions (FCALL) where the
// server has them, as EVALSHA elsewhere, and with WAIT in the same round
// trip when a replica wait is configured.

// call runs s once and returns its raw reply, through FCALL while the
// server has Functions and EVALSHA (EVAL after NOSCRIPT) otherwise.
func (g *GoRedis) call(ctx context.Context, s *Script, keys Keys, args []any) (any, error) {
	if g.mode.Load() != modeScripts {
		v, err := g.fcall(ctx, s, keys, args)
		switch {
		case err == nil:
			g.mode.CompareAndSwap(modeUnknown, modeFunctions)
			return v, nil
		case !functionMissing(err):
			return v, err
		case !functionsUnsupported(err):
			// Not loaded on this server (a new or restarted node), which a
			// cluster client may not yet know as the key's master.
			lerr := g.rerouting(ctx, func() error { return g.load(ctx, keys.Names[0]) })
			if lerr == nil {
				return g.fcall(ctx, s, keys, args)
			}
			if !functionsUnsupported(lerr) {
				return nil, lerr
			}
		}
		g.mode.Store(modeScripts)
	}
	return g.evals[s].Run(ctx, g.c, keys.Names, args...).Result()
}

// fcall runs s through FCALL. Where the client can run a command built
// here, it builds it with the function's name and the keys boxed once
// and one slice, where the client's FCall helper allocates for each and
// copies args.
func (g *GoRedis) fcall(ctx context.Context, s *Script, keys Keys, args []any) (any, error) {
	if g.proc == nil {
		return g.c.FCall(ctx, s.Func, keys.Names, args...).Result()
	}
	n := len(keys.Names)
	a := make([]any, 0, 3+n+len(args))
	a = append(a, "fcall", s.fn, n)
	for i := range n {
		a = append(a, keys.arg(i))
	}
	cmd := redis.NewCmd(ctx, append(a, args...)...)
	if n > 0 {
		cmd.SetFirstKeyPos(3) // a cluster routes it by its first key
	}
	_ = g.proc.Process(ctx, cmd) // the error is cmd's
	return cmd.Result()
}

// load loads the library on the server that holds key.
func (g *GoRedis) load(ctx context.Context, key string) error {
	if g.cluster != nil {
		node, err := g.cluster.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		return loadLibrary(ctx, node, g.lib)
	}
	return loadLibrary(ctx, g.c, g.lib)
}

// loadLibrary loads the library on c's server; a library already loaded
// (by another client, or this one racing itself) is success.
func loadLibrary(ctx context.Context, c interface {
	FunctionLoad(ctx context.Context, code string) *redis.StringCmd
}, lib *Library) error {
	err := c.FunctionLoad(ctx, lib.Code).Err()
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// rerouteBudget bounds how long rerouting keeps retrying a call to a
// cluster master that moved or went away: long enough for the client to
// learn of a finished failover, short enough that a slot still without
// a master fails the call promptly.
const rerouteBudget = 2 * time.Second

// rerouting runs f, a call sent straight to the master of a key's slot,
// and on a cluster runs it again while it fails in a way that says the
// master moved or is gone. A call on one node does not follow MOVED or
// notice a failover the way the cluster client's own commands do, so
// each retry asks the client to reload its slot map first; the reload
// runs in the background and go-redis spaces reloads 200 ms apart, so
// the pauses grow to 400 ms. Resending a script is safe: the resend log
// recognises a run that did land.
func (g *GoRedis) rerouting(ctx context.Context, f func() error) error {
	start := time.Now()
	pause := 25 * time.Millisecond
	for {
		err := f()
		if err == nil || g.cluster == nil || !rerouted(err) || time.Since(start)+pause > rerouteBudget {
			return err
		}
		g.cluster.ReloadState(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 400*time.Millisecond)
	}
}

// runWait sends the script and WAIT in one pipeline to the key's master:
// still one round trip, and WAIT counts the replicas that have this
// write. A write the master refused needs no replica.
func (g *GoRedis) runWait(ctx context.Context, s *Script, keys []string, args []any) (Reply, error) {
	var (
		ev, acked *redis.Cmd
		src       string
		err       error
	)
	sent := time.Now()
	err = g.rerouting(ctx, func() error {
		ev, acked, src, err = g.pipelineWait(ctx, s, keys, args)
		return err
	})
	if err != nil {
		return Reply{}, err
	}
	g.answered(sent)
	rep, err := decode(ev.Val())
	rep.Src = src
	if err != nil || !format.Applied(rep.Code) {
		return rep, err
	}
	n, err := acked.Int64()
	return Waited(rep, n, err, g.cfg)
}

// pipelineWait sends the script and WAIT in one pipeline to the key's
// master, loading the script when the server lacks it. err is the
// script's error; WAIT's is read by the caller.
func (g *GoRedis) pipelineWait(ctx context.Context, s *Script, keys []string, args []any) (ev, acked *redis.Cmd, src string, err error) {
	// WAIT runs even when the script before it failed, and without a
	// replica that keeps up it blocks for its whole timeout: learn
	// whether the server has Functions before the first pipeline, so
	// that a cold start does not wait twice.
	if g.mode.Load() == modeUnknown {
		switch err := g.load(ctx, keys[0]); {
		case err == nil:
			g.mode.CompareAndSwap(modeUnknown, modeFunctions)
		case functionsUnsupported(err):
			g.mode.Store(modeScripts)
		default:
			return nil, nil, "", err
		}
	}
	for try := range 3 {
		var pipe redis.Pipeliner
		if g.cluster != nil {
			node, err := g.cluster.MasterForKey(ctx, keys[0])
			if err != nil {
				return nil, nil, "", err
			}
			pipe, src = node.Pipeline(), node.Options().Addr
		} else {
			pipe = g.c.Pipeline()
		}
		mode := g.mode.Load()
		switch {
		case mode != modeScripts:
			ev = pipe.FCall(ctx, s.Func, keys, args...)
		case try == 0:
			ev = g.evals[s].EvalSha(ctx, pipe, keys, args...)
		default:
			ev = g.evals[s].Eval(ctx, pipe, keys, args...)
		}
		acked = pipe.Do(ctx, "wait", g.cfg.Replicas, g.cfg.WaitTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx) // errors are read from each command
		err = ev.Err()
		switch {
		case err == nil:
			if mode == modeUnknown {
				g.mode.CompareAndSwap(modeUnknown, modeFunctions)
			}
			return ev, acked, src, nil
		case mode != modeScripts && functionMissing(err):
			if functionsUnsupported(err) {
				g.mode.Store(modeScripts)
				continue
			}
			if lerr := g.load(ctx, keys[0]); lerr != nil {
				if !functionsUnsupported(lerr) {
					return nil, nil, src, lerr
				}
				g.mode.Store(modeScripts)
			}
		case mode == modeScripts && redis.HasErrorPrefix(err, "NOSCRIPT"):
		default:
			return ev, acked, src, err
		}
	}
	return ev, acked, src, err
}

// rerouted reports errors after which the key's master may have moved:
// a redirection, a cluster in transition, or a connection that failed.
func rerouted(err error) bool {
	for _, p := range []string{"MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "READONLY"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	var rerr redis.Error
	return !errors.As(err, &rerr) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// functionMissing reports a reply to an FCALL that did not run (see
// FunctionMissing).
func functionMissing(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && FunctionMissing(rerr.Error())
}

// functionsUnsupported reports a reply of a server without Functions (see
// NoFunctions).
func functionsUnsupported(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && NoFunctions(rerr.Error())
}
