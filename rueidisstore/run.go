package rueidisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// Run implements backend.Backend.
//
// rueidis never resends a write whose reply was lost: the caller gets the
// network error and cannot tell whether Redis ran it. attrcache's scripts
// are exactly-once (a copy whose token Redis has seen reports the first
// run's outcome and changes nothing; one that arrives after the call's
// deadline is not run), so Run resends the same bytes itself, at most
// maxSends times in all and only while ctx lasts. A reply from Redis,
// even an error, is never resent.
func (b *rueidisBackend) Run(ctx context.Context, s *backend.Script, k backend.Keys, args []any) (backend.Reply, error) {
	keys := k.Names
	var buf [16]string
	argv, err := appendArgs(buf[:0], args)
	if err != nil {
		return backend.Reply{}, err
	}
	for send := 1; ; send++ {
		rep, err := b.runOnce(ctx, s, keys, argv)
		if err == nil || send == maxSends || !resendable(ctx, err) {
			return rep, err
		}
		// A lost reply is a broken connection: give rueidis a moment to
		// dial again.
		t := time.NewTimer(time.Duration(send) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return rep, err
		case <-t.C:
		}
	}
}

// resendable reports an error after which Redis may or may not have run
// the script: the network failed, and ctx has time left.
func resendable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var nr *backend.NotReplicatedError
	if errors.As(err, &nr) {
		return false
	}
	_, isRedis := redisError(err)
	return !isRedis
}

// runOnce sends the script once: FCALL while the server has Functions
// (loading the library on every master where a function is missing), then
// EVALSHA, and EVAL after NOSCRIPT.
func (b *rueidisBackend) runOnce(ctx context.Context, s *backend.Script, keys, argv []string) (backend.Reply, error) {
	if b.cfg.Replicas > 0 && b.mode.Load() == modeUnknown {
		// WAIT runs even when the FCALL before it failed, and without a
		// replica that keeps up it blocks for its whole timeout: learn
		// whether the servers have Functions first, so that a cold start
		// does not wait twice.
		switch err := b.loadEverywhere(ctx); {
		case err == nil:
			b.mode.CompareAndSwap(modeUnknown, modeFunctions)
		case functionsUnsupported(err):
			b.mode.Store(modeScripts)
		default:
			return backend.Reply{}, err
		}
	}
	if b.mode.Load() != modeScripts {
		rep, err := b.exec(ctx, b.fcall(s, keys, argv), keys[0])
		switch {
		case err == nil:
			b.mode.CompareAndSwap(modeUnknown, modeFunctions)
			return rep, nil
		case !functionMissing(err):
			return rep, err
		case !functionsUnsupported(err):
			// Not loaded on this master (a new or restarted node).
			lerr := b.loadEverywhere(ctx)
			if lerr == nil {
				return b.exec(ctx, b.fcall(s, keys, argv), keys[0])
			}
			if !functionsUnsupported(lerr) {
				return backend.Reply{}, lerr
			}
		}
		b.mode.Store(modeScripts)
	}
	rep, err := b.exec(ctx, b.c.B().Evalsha().Sha1(b.shas[s]).Numkeys(int64(len(keys))).Key(keys...).Arg(argv...).Build(), keys[0])
	if rerr, ok := redisError(err); ok && rerr.IsNoScript() {
		return b.exec(ctx, b.c.B().Eval().Script(s.Eval).Numkeys(int64(len(keys))).Key(keys...).Arg(argv...).Build(), keys[0])
	}
	return rep, err
}

func (b *rueidisBackend) fcall(s *backend.Script, keys, argv []string) rueidis.Completed {
	return b.c.B().Fcall().Function(s.Func).Numkeys(int64(len(keys))).Key(keys...).Arg(argv...).Build()
}

// fenced reports whether writes need a fence: unless the client is known
// not to cache, a write's invalidation must reach the cache before the
// write returns.
func (b *rueidisBackend) fenced() bool { return b.caching.Load() != cacheOff }

// exec sends a script command to key's master, in one round trip with
// what goes with it:
//
//   - the fence: with one pipeline connection per node (see Options),
//     the connection that caches a key's reads also carries the writes to
//     it. Redis sends a connection the invalidations of its own write
//     after the write's reply, so a second command (EXISTS of the key)
//     follows the write: its reply comes after the invalidation, which
//     rueidis has applied to the cache before it hands the batch back.
//   - on a cluster, CLUSTER MYID, which names the master that ran the
//     script for attrcache's clock (and is the fence there);
//   - with a replica wait, WAIT. rueidis sends a batch with WAIT, a
//     blocking command, on a connection of its own, which caches nothing:
//     a fence on the pipeline then follows the batch, one more round trip
//     paid only by writes that wait for replicas, on a caching client.
func (b *rueidisBackend) exec(ctx context.Context, script rueidis.Completed, key string) (backend.Reply, error) {
	wait := b.cfg.Replicas > 0
	fence := b.fenced()
	var arr [3]rueidis.Completed
	batch := append(arr[:0], script)
	if wait {
		batch = append(batch, b.c.B().Wait().Numreplicas(int64(b.cfg.Replicas)).Timeout(b.cfg.WaitTimeout.Milliseconds()).Build())
	}
	switch {
	case b.cluster:
		batch = append(batch, b.c.B().ClusterMyid().Build())
	case fence && !wait:
		batch = append(batch, b.c.B().Exists().Key(key).Build())
	}
	if len(batch) == 1 {
		return decode(b.c.Do(ctx, script), "")
	}
	rs := b.c.DoMulti(ctx, batch...)
	var src string
	if b.cluster {
		src, _ = rs[len(rs)-1].ToString()
	}
	rep, err := decode(rs[0], src)
	if wait && fence {
		_ = b.c.Do(ctx, b.c.B().Exists().Key(key).Build()).Error() // the fence; its answer is not needed
	}
	if err != nil || !wait || !format.Applied(rep.Code) {
		return rep, err
	}
	n, err := rs[1].AsInt64()
	return backend.Waited(rep, n, err, b.cfg)
}

// decode reads a script reply: {status, now, payload...}, or a write's
// OK as one string (backend.ShortReply). Errors from
// Redis or the network are returned as they are; a reply of any other
// shape is backend.ErrReply.
func decode(r rueidis.RedisResult, src string) (backend.Reply, error) {
	if err := r.Error(); err != nil {
		return backend.Reply{}, err
	}
	if s, err := r.ToString(); err == nil {
		rep, err := backend.ShortReply(s)
		rep.Src = src
		return rep, err
	}
	arr, err := r.ToArray()
	if err != nil || len(arr) < 2 {
		return backend.Reply{}, fmt.Errorf("%w: not an array of two or more", backend.ErrReply)
	}
	code, err1 := arr[0].ToInt64()
	now, err2 := arr[1].ToInt64()
	if err1 != nil || err2 != nil {
		return backend.Reply{}, fmt.Errorf("%w: a status that is no integer", backend.ErrReply)
	}
	rep := backend.Reply{Code: code, Now: now, Src: src}
	for i := range arr[2:] {
		m := &arr[2+i]
		switch {
		case m.IsInt64():
			n, _ := m.ToInt64()
			rep.Add(backend.Val{N: n, IsInt: true})
		case m.IsString():
			s, _ := m.ToString()
			rep.Add(backend.Val{S: s})
		default:
			return backend.Reply{}, fmt.Errorf("%w: an element that is neither integer nor string", backend.ErrReply)
		}
	}
	return rep, nil
}

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// masters returns a client for each master, by address: the client itself
// on a single node or behind Sentinel (it follows the master), each
// master's node on a cluster, as CLUSTER SLOTS names them now.
func (b *rueidisBackend) masters(ctx context.Context) (map[string]rueidis.Client, error) {
	if !b.cluster {
		return map[string]rueidis.Client{"": b.c}, nil
	}
	// Any node can tell; the client picks one, which may be the one
	// that is down, so the others are asked in turn.
	nodes := b.c.Nodes()
	slots, err := b.c.Do(ctx, b.c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		addrs := slices.Sorted(maps.Keys(nodes))
		for _, addr := range addrs {
			n := nodes[addr]
			if s, nerr := n.Do(ctx, n.B().ClusterSlots().Build()).ToArray(); nerr == nil {
				slots, err = s, nil
				break
			}
		}
		if err != nil {
			return nil, err
		}
	}
	out := map[string]rueidis.Client{}
	for _, r := range slots {
		rng, err := r.ToArray()
		if err != nil || len(rng) < 3 {
			return nil, fmt.Errorf("%w: a CLUSTER SLOTS range of an unknown shape", backend.ErrReply)
		}
		m, err := rng[2].ToArray()
		if err != nil || len(m) < 2 {
			return nil, fmt.Errorf("%w: a CLUSTER SLOTS master of an unknown shape", backend.ErrReply)
		}
		host, _ := m[0].ToString()
		port, err := m[1].AsInt64()
		if err != nil {
			return nil, fmt.Errorf("%w: a CLUSTER SLOTS port that is no integer", backend.ErrReply)
		}
		addr := host + ":" + strconv.FormatInt(port, 10)
		if out[addr] == nil {
			out[addr] = nodes[addr] // nil: a master the client does not know yet
		}
	}
	return out, nil
}

// loadEverywhere loads the library on every master. A master without
// Functions is reported as such (not joined with the others' errors), so
// that the caller turns to EVALSHA everywhere.
func (b *rueidisBackend) loadEverywhere(ctx context.Context) error {
	var unsupported error
	err := b.eachMaster(ctx, func(n rueidis.Client) error {
		err := b.loadLibrary(ctx, n)
		if functionsUnsupported(err) {
			unsupported = err
		}
		return err
	})
	if unsupported != nil {
		return unsupported
	}
	return err
}

// loadLibrary loads the library on n's server; a library already loaded
// (by another client, or by this one racing itself) is success, and so
// is a replica's refusal: a replica gets the library from its master.
func (b *rueidisBackend) loadLibrary(ctx context.Context, n rueidis.Client) error {
	err := n.Do(ctx, n.B().FunctionLoad().FunctionCode(b.lib.Code).Build()).Error()
	if rerr, ok := redisError(err); ok {
		if msg := rerr.Error(); strings.Contains(msg, "already exists") || strings.HasPrefix(msg, "READONLY") {
			return nil
		}
	}
	return err
}

// Ping implements backend.Backend: each master answers PING, and has the
// library loaded (or, without Functions, the scripts).
func (b *rueidisBackend) Ping(ctx context.Context) error {
	return b.eachMaster(ctx, func(n rueidis.Client) error { return b.ready(ctx, n) })
}

// eachMaster calls f on each master (see masters), one after another, and
// joins their errors, each naming its master on a cluster (see backend.JoinSorted).
// A master the client has no node for yet is an error of its own.
func (b *rueidisBackend) eachMaster(ctx context.Context, f func(n rueidis.Client) error) error {
	ms, err := b.masters(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for addr, n := range ms {
		if n == nil {
			errs = append(errs, fmt.Errorf("master %s: not among the client's nodes", addr))
			continue
		}
		if err := f(n); err != nil {
			errs = append(errs, where(addr, err))
		}
	}
	return backend.JoinSorted(errs)
}

// ready checks that n answers and can run the scripts.
func (b *rueidisBackend) ready(ctx context.Context, n rueidis.Client) error {
	if err := n.Do(ctx, n.B().Ping().Build()).Error(); err != nil {
		return err
	}
	if b.mode.Load() != modeScripts {
		err := b.loadLibrary(ctx, n)
		if err == nil {
			return nil
		}
		if !functionsUnsupported(err) {
			return err
		}
		b.mode.Store(modeScripts)
	}
	for _, s := range b.lib.Scripts {
		if err := n.Do(ctx, n.B().ScriptLoad().Script(s.Eval).Build()).Error(); err != nil {
			return err
		}
	}
	return nil
}

// where names the master of an error on a cluster.
func where(addr string, err error) error {
	if addr == "" {
		return err
	}
	return fmt.Errorf("master %s: %w", addr, err)
}
