package attrcache

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one per operation family. lib.lua is prepended to each,
// so a call stays one EVALSHA (EVAL once after a NOSCRIPT).
var (
	//go:embed lua/lib.lua
	libLua string
	//go:embed lua/session.lua
	sessionLua string
	//go:embed lua/write.lua
	writeLua string
	//go:embed lua/read.lua
	readLua string
	//go:embed lua/delete.lua
	deleteLua string
	//go:embed lua/expire.lua
	expireLua string

	sessionScript = redis.NewScript(libLua + sessionLua)
	writeScript   = redis.NewScript(libLua + writeLua)
	readScript    = redis.NewScript(libLua + readLua)
	deleteScript  = redis.NewScript(libLua + deleteLua)
	expireScript  = redis.NewScript(libLua + expireLua)
)

// Script reply status codes, mirrored from lib.lua.
const (
	stOK            = 0
	stNoSession     = 1
	stExists        = 2
	stNotFound      = 3
	stCorrupt       = 4
	stTooMany       = 5
	stSessionExists = 6
)

// run executes one script and splits its reply into status and payload.
func (s *Session) run(ctx context.Context, script *redis.Script, args []any) (int64, []any, error) {
	v, err := script.Run(ctx, s.store.rdb, s.keys[:], args...).Result()
	if err != nil {
		return 0, nil, err
	}
	return splitReply(v)
}

// runWrite executes a script that writes. With WithReplicaWait it sends
// WAIT in the same pipeline, to the node that owns the key: still one
// round trip, and WAIT counts the replicas that have this write.
func (s *Session) runWrite(ctx context.Context, script *redis.Script, args []any) (int64, []any, error) {
	w := s.store.wait
	if w.replicas == 0 {
		return s.run(ctx, script, args)
	}
	var (
		ev    *redis.Cmd
		acked *redis.Cmd
		err   error
	)
	// A pipeline on one node does not follow MOVED or notice a failover
	// the way the client's own commands do: on such errors, ask a cluster
	// client to reload its slot map and try again. Resending is safe, the
	// call's token makes the script recognise a run that did land.
	for attempt := 0; ; attempt++ {
		ev, acked, err = s.pipelineWait(ctx, script, args)
		if err == nil || attempt == 2 || !rerouted(err) {
			break
		}
		c, ok := s.store.rdb.(*redis.ClusterClient)
		if !ok {
			break
		}
		c.ReloadState(ctx)
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
	if err != nil {
		return 0, nil, err
	}
	code, payload, err := splitReply(ev.Val())
	if err != nil || code != stOK {
		return code, payload, err
	}
	n, err := acked.Int64()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: WAIT failed: %w", ErrNotReplicated, err)
	}
	if n < int64(w.replicas) {
		return 0, nil, fmt.Errorf("%w: %d of %d replicas acknowledged within %v", ErrNotReplicated, n, w.replicas, w.timeout)
	}
	return code, payload, nil
}

// pipelineWait sends the script and WAIT in one pipeline to the key's
// master, loading the script when the server lacks it. err is the
// script's error; WAIT's is read by the caller.
func (s *Session) pipelineWait(ctx context.Context, script *redis.Script, args []any) (ev, acked *redis.Cmd, err error) {
	keys := s.keys[:]
	for _, load := range []bool{false, true} {
		pipe, err := s.store.pipeline(ctx, s.keys[0])
		if err != nil {
			return nil, nil, err
		}
		if load {
			ev = script.Eval(ctx, pipe, keys, args...)
		} else {
			ev = script.EvalSha(ctx, pipe, keys, args...)
		}
		acked = pipe.Do(ctx, "wait", s.store.wait.replicas, s.store.wait.timeout.Milliseconds())
		_, _ = pipe.Exec(ctx) // errors are read from each command
		if !redis.HasErrorPrefix(ev.Err(), "NOSCRIPT") {
			break
		}
	}
	return ev, acked, ev.Err()
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

// splitReply splits a script reply into status and payload. A reply of
// another shape is ErrCorrupt: the scripts never send one, so something
// between us and Redis is not what we expect.
func splitReply(v any) (int64, []any, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return 0, nil, fmt.Errorf("%w: unexpected script reply of type %T", ErrCorrupt, v)
	}
	code, ok := arr[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("%w: unexpected script status of type %T", ErrCorrupt, arr[0])
	}
	return code, arr[1:], nil
}

// statusError turns a non-OK status into the package's error. Names in
// the payload are attached to the sentinels that carry names.
func statusError(code int64, payload []any) error {
	switch code {
	case stNoSession:
		return ErrSessionNotFound
	case stSessionExists:
		return ErrSessionExists
	case stExists:
		return namesError(ErrExists, payload)
	case stNotFound:
		return namesError(ErrNotFound, payload)
	case stCorrupt:
		if len(payload) == 0 {
			return fmt.Errorf("%w: session key holds something attrcache did not write", ErrCorrupt)
		}
		return namesError(ErrCorrupt, payload)
	case stTooMany:
		return ErrTooManyAttributes
	}
	return fmt.Errorf("%w: unknown script status %d", ErrCorrupt, code)
}

func namesError(sentinel error, payload []any) error {
	names := make([]string, 0, len(payload))
	for _, p := range payload {
		if n, ok := p.(string); ok {
			names = append(names, n)
		}
	}
	return &NamesError{Err: sentinel, Names: names}
}

// int64At reads payload[i] as an integer, defensively.
func int64At(payload []any, i int) (int64, error) {
	if i >= len(payload) {
		return 0, fmt.Errorf("%w: script reply too short", ErrCorrupt)
	}
	n, ok := payload[i].(int64)
	if !ok {
		return 0, fmt.Errorf("%w: unexpected reply element of type %T", ErrCorrupt, payload[i])
	}
	return n, nil
}
