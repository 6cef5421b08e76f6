package attrcache

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Lua, one script per operation family, with lib.lua shared. On Redis
// 7 and later it is loaded once as a Functions library and called with
// FCALL, which runs only the called function; elsewhere (Redis 6.2,
// miniredis, a user without the FUNCTION permission) each script is
// lib.lua followed by its body, called with EVALSHA (EVAL once after
// NOSCRIPT), which defines every helper again on each call. Either way a
// call is one command, and hooks on the client see which family ran
// (fcall attrcache_<version>_write, or evalsha).
var (
	//go:embed lua/lib.lua
	libLua string
	//go:embed lua/write.lua
	writeLua string
	//go:embed lua/session.lua
	sessionLua string

	// libName carries a digest of the code, so that Stores of different
	// attrcache versions on one Redis each call their own functions.
	libName = func() string {
		sum := sha256.Sum256([]byte(libLua + writeLua + sessionLua))
		return "attrcache_" + hex.EncodeToString(sum[:6])
	}()
	libraryCode = "#!lua name=" + libName + "\n" + libLua + writeLua + sessionLua +
		"redis.register_function('" + libName + "_write', write)\n" +
		"redis.register_function('" + libName + "_session', session)\n"

	writeScript   = newScript("write", writeLua)
	sessionScript = newScript("session", sessionLua)
)

// script is one operation family, callable both ways.
type script struct {
	fn   string // function name in the library
	eval *redis.Script
}

func newScript(name, body string) *script {
	return &script{
		fn:   libName + "_" + name,
		eval: redis.NewScript(libLua + body + "\nreturn " + name + "(KEYS, ARGV)\n"),
	}
}

// Script reply status codes, mirrored from lib.lua.
const (
	stOK            = 0
	stNoSession     = 1
	stExists        = 2
	stNotFound      = 3
	stCorrupt       = 4
	stTooMany       = 5
	stSessionExists = 6
	stTooBig        = 7
	stLate          = 8
	stResent        = 9
	stUnsure        = 10
)

// How a Store calls its scripts: found out on the first call.
const (
	modeUnknown   = iota // try FCALL
	modeFunctions        // FCALL works
	modeScripts          // EVALSHA
)

// runner calls the scripts, the one way or the other.
type runner struct {
	st   *Store
	mode atomic.Int32
}

func (r *runner) init(st *Store) { r.st = st }

// scripter is what running a script needs: the Store's client, one
// master of a cluster, or a pipeline.
type scripter interface {
	redis.Scripter
	FCall(ctx context.Context, function string, keys []string, args ...any) *redis.Cmd
}

// call runs sc once on c and returns its raw reply.
func (r *runner) call(ctx context.Context, c scripter, sc *script, keys []string, args []any) (any, error) {
	if r.mode.Load() != modeScripts {
		v, err := c.FCall(ctx, sc.fn, keys, args...).Result()
		switch {
		case err == nil:
			r.mode.CompareAndSwap(modeUnknown, modeFunctions)
			return v, nil
		case !functionMissing(err):
			return v, err
		case !functionsUnsupported(err):
			// Not loaded on this server (a new or restarted node).
			lerr := r.load(ctx, keys[0])
			if lerr == nil {
				return c.FCall(ctx, sc.fn, keys, args...).Result()
			}
			if !functionsUnsupported(lerr) {
				return nil, lerr
			}
		}
		r.mode.Store(modeScripts)
	}
	return sc.eval.Run(ctx, c, keys, args...).Result()
}

// load loads the library on the server that holds key.
func (r *runner) load(ctx context.Context, key string) error {
	if c, ok := r.st.rdb.(*redis.ClusterClient); ok {
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		return loadLibrary(ctx, node)
	}
	return loadLibrary(ctx, r.st.rdb)
}

// loadLibrary loads the library on c's server; a library already loaded
// (by another client, or this one racing itself) is success.
func loadLibrary(ctx context.Context, c interface {
	FunctionLoad(ctx context.Context, code string) *redis.StringCmd
}) error {
	err := c.FunctionLoad(ctx, libraryCode).Err()
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// ready checks that c answers and can run the Store's scripts.
func (r *runner) ready(ctx context.Context, c interface {
	redis.Scripter
	Ping(ctx context.Context) *redis.StatusCmd
	FunctionLoad(ctx context.Context, code string) *redis.StringCmd
}) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	if r.mode.Load() != modeScripts {
		err := loadLibrary(ctx, c)
		if err == nil {
			return nil
		}
		if !functionsUnsupported(err) {
			return unavailable(err)
		}
	}
	for _, sc := range []*script{writeScript, sessionScript} {
		if err := sc.eval.Load(ctx, c).Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// functionMissing reports the errors of an FCALL that did not run: the
// function is not loaded, or FCALL itself is not available.
func functionMissing(err error) bool {
	return redis.HasErrorPrefix(err, "Function not found") || functionsUnsupported(err)
}

// functionsUnsupported reports a server without Redis Functions (before
// 7.0, miniredis) or a user not allowed to use them.
func functionsUnsupported(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	s := rerr.Error()
	return redis.HasErrorPrefix(err, "NOPERM") || strings.Contains(s, "unknown command") ||
		strings.Contains(s, "unknown subcommand")
}

// reply is a decoded script reply.
type reply struct {
	code    int64
	now     int64 // Redis's clock when the script ran, ms
	payload []any
}

// ok reports a script that did its work: now, or on an earlier send
// that the resend log recognised.
func (r reply) ok() bool { return r.code == stOK || r.code == stResent }

// err is nil for a reply that is ok, else the status's error.
func (r reply) err() error {
	if r.ok() {
		return nil
	}
	return statusError(r)
}

// payload0 returns the first payload element as an integer.
func (r reply) payload0() (int64, bool) {
	if len(r.payload) == 0 {
		return 0, false
	}
	n, ok := r.payload[0].(int64)
	return n, ok
}

// exec runs one script on the session's key: directly, or with WithReplicaWait
// in a pipeline with WAIT. It samples Redis's clock from the reply.
func (s *Session) exec(ctx context.Context, sc *script, args []any) (reply, error) {
	st := s.store
	sent := st.clock.now()
	if st.wait.replicas > 0 {
		rep, err := s.execWait(ctx, sc, args)
		var notRep *notReplicatedError
		if errors.As(err, &notRep) {
			st.clock.observe(sent, st.clock.now(), notRep.now)
			return reply{}, err
		}
		if err == nil {
			st.clock.observe(sent, st.clock.now(), rep.now)
		}
		return rep, err
	}
	v, err := st.run.call(ctx, st.rdb, sc, s.keys[:], args)
	if err != nil {
		return reply{}, unavailable(err)
	}
	rep, err := splitReply(v)
	if err != nil {
		return reply{}, err
	}
	st.clock.observe(sent, st.clock.now(), rep.now)
	return rep, nil
}

// execWait sends the script and WAIT in one pipeline, to the node that
// owns the key: still one round trip, and WAIT counts the replicas that
// have this write. A write the master refused needs no replica. Errors
// from Redis come back as ErrUnavailable, a missing acknowledgement as
// *notReplicatedError.
func (s *Session) execWait(ctx context.Context, sc *script, args []any) (reply, error) {
	var (
		ev, acked *redis.Cmd
		err       error
	)
	// A pipeline on one node does not follow MOVED or notice a failover
	// the way the client's own commands do: on such errors, ask a cluster
	// client to reload its slot map and try again. Resending is safe: the
	// resend log recognises a run that did land.
	for attempt := 0; ; attempt++ {
		ev, acked, err = s.pipelineWait(ctx, sc, args)
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
			return reply{}, unavailable(ctx.Err())
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
	if err != nil {
		return reply{}, unavailable(err)
	}
	rep, err := splitReply(ev.Val())
	if err != nil || !rep.ok() {
		return rep, err
	}
	w := s.store.wait
	n, err := acked.Int64()
	if err != nil {
		return reply{}, &notReplicatedError{now: rep.now, msg: "WAIT failed: " + err.Error()}
	}
	if n < int64(w.replicas) {
		return reply{}, &notReplicatedError{now: rep.now, msg: fmt.Sprintf("%d of %d replicas acknowledged within %v", n, w.replicas, w.timeout)}
	}
	return rep, nil
}

// notReplicatedError is ErrNotReplicated with what WAIT said.
type notReplicatedError struct {
	now int64
	msg string
}

func (e *notReplicatedError) Error() string { return ErrNotReplicated.Error() + ": " + e.msg }
func (e *notReplicatedError) Unwrap() error { return ErrNotReplicated }

// pipelineWait sends the script and WAIT in one pipeline to the key's
// master, loading the script when the server lacks it. err is the
// script's error; WAIT's is read by the caller.
func (s *Session) pipelineWait(ctx context.Context, sc *script, args []any) (ev, acked *redis.Cmd, err error) {
	st := s.store
	keys := s.keys[:]
	for try := range 3 {
		pipe, err := st.pipeline(ctx, s.keys[0])
		if err != nil {
			return nil, nil, err
		}
		mode := st.run.mode.Load()
		switch {
		case mode != modeScripts:
			ev = pipe.FCall(ctx, sc.fn, keys, args...)
		case try == 0:
			ev = sc.eval.EvalSha(ctx, pipe, keys, args...)
		default:
			ev = sc.eval.Eval(ctx, pipe, keys, args...)
		}
		acked = pipe.Do(ctx, "wait", st.wait.replicas, st.wait.timeout.Milliseconds())
		_, _ = pipe.Exec(ctx) // errors are read from each command
		err = ev.Err()
		switch {
		case err == nil:
			if mode == modeUnknown {
				st.run.mode.CompareAndSwap(modeUnknown, modeFunctions)
			}
			return ev, acked, nil
		case mode != modeScripts && functionMissing(err):
			if functionsUnsupported(err) {
				st.run.mode.Store(modeScripts)
				continue
			}
			if lerr := st.run.load(ctx, keys[0]); lerr != nil {
				if !functionsUnsupported(lerr) {
					return nil, nil, lerr
				}
				st.run.mode.Store(modeScripts)
			}
		case mode == modeScripts && redis.HasErrorPrefix(err, "NOSCRIPT"):
		default:
			return ev, acked, err
		}
	}
	return ev, acked, err
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

// splitReply splits a script reply into status, Redis time and payload.
// A reply of another shape is ErrCorrupt: the scripts never send one, so
// something between us and Redis is not what we expect.
func splitReply(v any) (reply, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return reply{}, fmt.Errorf("%w: unexpected script reply of type %T", ErrCorrupt, v)
	}
	code, ok1 := arr[0].(int64)
	now, ok2 := arr[1].(int64)
	if !ok1 || !ok2 {
		return reply{}, fmt.Errorf("%w: unexpected script status of types %T, %T", ErrCorrupt, arr[0], arr[1])
	}
	return reply{code: code, now: now, payload: arr[2:]}, nil
}

// statusError turns a non-OK status into the package's error. Names in
// the payload are attached to the sentinels that carry names.
func statusError(rep reply) error {
	switch rep.code {
	case stNoSession:
		return ErrSessionNotFound
	case stSessionExists:
		return ErrSessionExists
	case stExists:
		return namesError(ErrExists, rep.payload)
	case stNotFound:
		return namesError(ErrNotFound, rep.payload)
	case stCorrupt:
		if len(rep.payload) == 0 {
			return fmt.Errorf("%w: session key holds something attrcache did not write", ErrCorrupt)
		}
		return namesError(ErrCorrupt, rep.payload)
	case stTooMany:
		return ErrTooManyAttributes
	case stTooBig:
		return ErrTooBig
	case stLate:
		return &unavailableError{cause: fmt.Errorf("the write reached Redis after its deadline and was not run: %w", context.DeadlineExceeded)}
	case stUnsure:
		return &unavailableError{cause: errors.New("the write began before the oldest call the session's resend log still holds, " +
			"so Redis cannot tell whether it already ran; it was not run again")}
	}
	return fmt.Errorf("%w: unknown script status %d", ErrCorrupt, rep.code)
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
