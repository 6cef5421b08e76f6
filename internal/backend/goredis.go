package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attrcache/attrcache/internal/format"
	"github.com/redis/go-redis/v9"
)

// Client is what the go-redis backend calls: every go-redis client
// (*redis.Client, including Sentinel's failover client, *redis.ClusterClient,
// *redis.Ring) has it, and so does a type that embeds one.
type Client interface {
	redis.Scripter
	FCall(ctx context.Context, function string, keys []string, args ...any) *redis.Cmd
	FunctionLoad(ctx context.Context, code string) *redis.StringCmd
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	Del(ctx context.Context, keys ...string) *redis.IntCmd
	Time(ctx context.Context) *redis.TimeCmd
	Ping(ctx context.Context) *redis.StatusCmd
	Pipeline() redis.Pipeliner
}

// The topologies' own methods: New reads them off the client's method
// set, so a wrapper that embeds a client is served like the client.
type (
	clusterClient interface {
		Options() *redis.ClusterOptions
		MasterForKey(ctx context.Context, key string) (*redis.Client, error)
		ForEachMaster(ctx context.Context, fn func(ctx context.Context, client *redis.Client) error) error
		ReloadState(ctx context.Context)
	}
	ringClient interface {
		Options() *redis.RingOptions
		ForEachShard(ctx context.Context, fn func(ctx context.Context, client *redis.Client) error) error
	}
	nodeClient interface {
		Options() *redis.Options
	}
)

// Config is what a backend is set up with beyond the client.
type Config struct {
	// Replicas and WaitTimeout, when Replicas > 0, make every script wait
	// for that many replicas (WAIT in the same round trip).
	Replicas    int
	WaitTimeout time.Duration
}

// GoRedis is the Backend on a go-redis client.
type GoRedis struct {
	c       Client
	cluster clusterClient // nil unless a cluster
	ring    ringClient    // nil unless a ring
	lib     *Library
	evals   map[*Script]*redis.Script
	cfg     Config
	info    Info
	near    *NearCache
	mode    atomic.Int32
	proc    processor // c, when it can run a command built here
	dls     Deadlines // the calls' shared deadlines, without ContextTimeoutEnabled
}

// processor is what every go-redis client, and every type that embeds
// one, has: it runs a command built outside the client's helpers.
type processor interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// How the backend calls its scripts: found out on the first call.
const (
	modeUnknown   = iota // try FCALL
	modeFunctions        // FCALL works
	modeScripts          // EVALSHA
)

// NewGoRedis returns the backend on c. It refuses, with an error that says
// what to do, a client whose topology it cannot see (a type that neither
// is nor embeds a go-redis client), a replica wait that cannot work on it,
// and a client-side cache that cannot be evicted after writes.
func NewGoRedis(c Client, lib *Library, cfg Config) (*GoRedis, error) {
	if c == nil {
		return nil, errors.New("redis client is nil")
	}
	g := &GoRedis{c: c, lib: lib, cfg: cfg, evals: map[*Script]*redis.Script{}}
	g.proc, _ = c.(processor)
	for _, s := range lib.Scripts {
		g.evals[s] = redis.NewScript(s.Eval)
	}
	var read time.Duration
	var retries, redirects int
	var backoff time.Duration
	var ctxTimeouts bool
	switch cc := c.(type) {
	case clusterClient:
		o := cc.Options()
		g.cluster, g.info.Topology = cc, "cluster"
		read, retries, redirects, backoff, ctxTimeouts = o.ReadTimeout, o.MaxRetries, o.MaxRedirects, o.MaxRetryBackoff, o.ContextTimeoutEnabled
	case ringClient:
		o := cc.Options()
		g.ring, g.info.Topology, g.info.DB = cc, "ring", o.DB
		read, retries, backoff, ctxTimeouts = o.ReadTimeout, o.MaxRetries, o.MaxRetryBackoff, o.ContextTimeoutEnabled
		if cfg.Replicas > 0 {
			return nil, errors.New("WithReplicaWait does not work on a *redis.Ring: WAIT must reach the shard that took the write on its connection")
		}
	case nodeClient:
		o := cc.Options()
		g.info.Topology, g.info.DB = "single", o.DB
		if strings.HasPrefix(o.Addr, "FailoverClient") || o.Addr == "" {
			g.info.Topology = "sentinel"
		}
		read, retries, backoff, ctxTimeouts = o.ReadTimeout, o.MaxRetries, o.MaxRetryBackoff, o.ContextTimeoutEnabled
		near, err := nearCacheOf(o)
		if err != nil {
			return nil, err
		}
		g.near = near
		if near != nil {
			g.info.Cache = near
			near.ping = func(ctx context.Context) error { return c.Ping(ctx).Err() }
		}
	default:
		return nil, fmt.Errorf("a %T shows no go-redis Options: attrcache needs a *redis.Client, *redis.ClusterClient or *redis.Ring, "+
			"or a type that embeds one, to know which node serves a key", c)
	}
	if cfg.Replicas > 0 && read > 0 && cfg.WaitTimeout >= read {
		return nil, fmt.Errorf("WithReplicaWait timeout %v must be below the client's ReadTimeout %v, "+
			"or every write would time out waiting for it", cfg.WaitTimeout, read)
	}
	g.info.Abandons = !ctxTimeouts
	if read > 0 {
		retries = max(retries, redirects, 0)
		backoff = max(backoff, 0)
		g.info.Window = time.Duration(retries+1)*read + time.Duration(retries)*backoff
	}
	return g, nil
}

// Info implements Backend.
func (g *GoRedis) Info() Info { return g.info }

// Bound implements Backend. A go-redis client with ContextTimeoutEnabled
// takes a context's deadline as its sockets' deadline, and reads it with
// Deadline alone: a context that only reports the deadline bounds every
// read, write and retry of the call for one allocation, where
// context.WithTimeout would arm a timer per call. Without
// ContextTimeoutEnabled the call is abandoned at a real deadline, one
// that calls share (see abandon and Deadlines).
func (g *GoRedis) Bound(ctx context.Context, d time.Duration, room *Room) (context.Context, context.CancelFunc) {
	if g.info.Abandons {
		return g.dls.shared(ctx, d, room), noCancel
	}
	at := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && !dl.After(at) {
		return ctx, noCancel
	}
	if room == nil {
		return &deadlineCtx{Context: ctx, at: at}, noCancel
	}
	room.ctx = deadlineCtx{Context: ctx, at: at}
	return &room.ctx, noCancel
}

func noCancel() {}

// deadlineCtx is ctx with an earlier deadline that only Deadline reports:
// Done and Err are ctx's. Only the client sees it.
type deadlineCtx struct {
	context.Context
	at time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.at, true }

// answered tells the near cache that Redis answered a script sent at
// sent: its lease holds on (see NearCache). Reads do not tell it: go-redis
// may have answered them from the cache.
func (g *GoRedis) answered(sent time.Time) {
	if g.near != nil {
		g.near.answered(sent)
	}
}

// Evict implements Backend.
func (g *GoRedis) Evict(key string) {
	if g.near != nil {
		g.near.evict(key)
	}
}

// Run implements Backend.
func (g *GoRedis) Run(ctx context.Context, s *Script, keys Keys, args []any) (Reply, error) {
	if g.abandons(ctx) {
		return abandon(ctx, func(ctx context.Context) (Reply, error) { return g.run(ctx, s, keys, args) })
	}
	return g.run(ctx, s, keys, args)
}

func (g *GoRedis) run(ctx context.Context, s *Script, keys Keys, args []any) (Reply, error) {
	if g.cfg.Replicas > 0 {
		return g.runWait(ctx, s, keys.Names, args)
	}
	var sent time.Time
	if g.near != nil { // only the near cache's lease needs it
		sent = time.Now()
	}
	v, err := g.call(ctx, s, keys, args)
	if err != nil {
		return Reply{}, err
	}
	g.answered(sent)
	rep, err := decode(v)
	rep.Src = g.source(ctx, keys.Names[0])
	return rep, err
}

// abandons reports whether a call on ctx goes through abandon: the
// client would not end it with ctx (no ContextTimeoutEnabled), and ctx
// can end. Each method asks before it makes abandon's closure, so that a
// call that runs on the caller's goroutine allocates none.
func (g *GoRedis) abandons(ctx context.Context) bool {
	return g.info.Abandons && ctx.Done() != nil
}

// abandon runs f on a goroutine of its own and returns when f does or
// when ctx ends, leaving f to finish in the background: a frozen Redis
// then costs a caller its own deadline, not the client's read timeout
// times its retries. Writes stay exactly-once: a copy that reaches Redis
// after the call's deadline is refused there.
//
// A context from Bound ends at a deadline shared with other calls (see
// Deadlines), and does not end with its parent: abandon also returns
// when the parent ends, and f goes on until the deadline at the latest.
func abandon[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	// A stepCtx does not end with its parent: watch the parent too (a nil
	// channel, for any other ctx, blocks for ever).
	var parent context.Context
	var parentDone <-chan struct{}
	if sc, ok := ctx.(*stepCtx); ok {
		parent, parentDone = sc.Context, sc.Context.Done()
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-parentDone:
		return zero, parent.Err()
	}
}

// source names the server that holds key, for the clock.
func (g *GoRedis) source(ctx context.Context, key string) string {
	if g.cluster == nil {
		return ""
	}
	node, err := g.cluster.MasterForKey(ctx, key)
	if err != nil {
		return ""
	}
	return node.Options().Addr
}

// decode reads a script reply: {status, now, payload...}, or a write's
// OK as one string (ShortReply). Any other shape is ErrReply.
func decode(v any) (Reply, error) {
	if s, ok := v.(string); ok {
		return ShortReply(s)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		return Reply{}, fmt.Errorf("%w of type %T", ErrReply, v)
	}
	code, ok1 := arr[0].(int64)
	now, ok2 := arr[1].(int64)
	if !ok1 || !ok2 {
		return Reply{}, fmt.Errorf("%w: status of types %T, %T", ErrReply, arr[0], arr[1])
	}
	rep := Reply{Code: code, Now: now}
	for _, x := range arr[2:] {
		switch x := x.(type) {
		case int64:
			rep.Add(Val{N: x, IsInt: true})
		case string:
			rep.Add(Val{S: x})
		default:
			return Reply{}, fmt.Errorf("%w: element of type %T", ErrReply, x)
		}
	}
	return rep, nil
}

// HMGet implements Backend.
func (g *GoRedis) HMGet(ctx context.Context, key string, fields []string) ([]Field, error) {
	if g.abandons(ctx) {
		return abandon(ctx, func(ctx context.Context) ([]Field, error) { return g.hmget(ctx, key, fields) })
	}
	return g.hmget(ctx, key, fields)
}

func (g *GoRedis) hmget(ctx context.Context, key string, fields []string) ([]Field, error) {
	vals, err := g.c.HMGet(ctx, key, fields...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Field, len(fields))
	if err := fillFields(out, vals); err != nil {
		return nil, err
	}
	return out, nil
}

// fillFields decodes an HMGET reply into out, one field each.
func fillFields(out []Field, vals []any) error {
	if len(vals) != len(out) {
		return fmt.Errorf("%w: HMGET of %d fields answered %d", ErrReply, len(out), len(vals))
	}
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
		case string:
			out[i] = Field{S: v, OK: true}
		default:
			return fmt.Errorf("%w: HMGET value of type %T", ErrReply, v)
		}
	}
	return nil
}

// markerArg is the marker's field name as a command argument, boxed once.
var markerArg any = format.MarkerField

// HMGetPair implements Backend. It builds the command itself where the
// client can run it: HMGet's helper boxes every field (the marker's name
// too) and copies the slice it is given.
func (g *GoRedis) HMGetPair(ctx context.Context, key Keys, f0 string, f1 *PairName) ([2]Field, error) {
	if g.abandons(ctx) {
		return abandon(ctx, func(ctx context.Context) ([2]Field, error) { return g.hmgetPair(ctx, key, f0, f1) })
	}
	return g.hmgetPair(ctx, key, f0, f1)
}

func (g *GoRedis) hmgetPair(ctx context.Context, key Keys, f0 string, f1 *PairName) ([2]Field, error) {
	var out [2]Field
	var cmd *redis.SliceCmd
	if g.proc == nil {
		cmd = g.c.HMGet(ctx, key.Names[0], f0, f1.S)
	} else {
		a0 := markerArg
		if f0 != format.MarkerField {
			a0 = f0
		}
		// go-redis caches a read only when its key is a plain string.
		var k any
		if g.near == nil {
			k = key.arg(0)
		} else {
			k = key.Names[0]
		}
		f1.args = [4]any{"hmget", k, a0, &f1.Text}
		cmd = redis.NewSliceCmd(ctx, f1.args[:]...)
		_ = g.proc.Process(ctx, cmd) // the error is cmd's
	}
	vals, err := cmd.Result()
	if err != nil {
		return out, err
	}
	err = fillFields(out[:], vals) // before out is read: see the spec's order of evaluation
	return out, err
}

// HGetAll implements Backend.
func (g *GoRedis) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	if g.abandons(ctx) {
		return abandon(ctx, func(ctx context.Context) (map[string]string, error) { return g.c.HGetAll(ctx, key).Result() })
	}
	return g.c.HGetAll(ctx, key).Result()
}

// Del implements Backend.
func (g *GoRedis) Del(ctx context.Context, keys ...string) error {
	var err error
	if g.abandons(ctx) {
		_, err = abandon(ctx, func(ctx context.Context) (int64, error) { return g.c.Del(ctx, keys...).Result() })
	} else {
		err = g.c.Del(ctx, keys...).Err()
	}
	for _, k := range keys {
		g.Evict(k)
	}
	return err
}

// Time implements Backend.
func (g *GoRedis) Time(ctx context.Context, key string) (Sample, error) {
	if g.abandons(ctx) {
		return abandon(ctx, func(ctx context.Context) (Sample, error) { return g.time(ctx, key) })
	}
	return g.time(ctx, key)
}

// time asks the server that holds key for its clock; on a cluster that
// is the key's master, found again if it moved (see rerouting).
func (g *GoRedis) time(ctx context.Context, key string) (smp Sample, err error) {
	err = g.rerouting(ctx, func() error {
		c := Client(g.c)
		var src string
		if g.cluster != nil {
			node, err := g.cluster.MasterForKey(ctx, key)
			if err != nil {
				return err
			}
			c, src = node, node.Options().Addr
		}
		sent := time.Now()
		t, err := c.Time(ctx).Result()
		if err != nil {
			return err
		}
		smp = Sample{Src: src, Ms: t.UnixMilli(), Sent: sent, Recv: time.Now()}
		return nil
	})
	return smp, err
}

// Ping implements Backend.
func (g *GoRedis) Ping(ctx context.Context) error {
	each := func(fe func(context.Context, func(context.Context, *redis.Client) error) error) error {
		var (
			mu   sync.Mutex // the callback runs in a goroutine per node
			errs []error
		)
		err := fe(ctx, func(ctx context.Context, node *redis.Client) error {
			if err := g.ready(ctx, node); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("master %s: %w", node.Options().Addr, err))
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return err
		}
		return JoinSorted(errs)
	}
	switch {
	case g.cluster != nil:
		return each(g.cluster.ForEachMaster)
	case g.ring != nil:
		return each(g.ring.ForEachShard)
	}
	err := g.ready(ctx, g.c)
	if err != nil && g.info.Topology == "single" {
		// A dial that ran out of time says only that: name the server.
		if nc, ok := g.c.(nodeClient); ok && !strings.Contains(err.Error(), nc.Options().Addr) {
			err = fmt.Errorf("server %s: %w", nc.Options().Addr, err)
		}
	}
	return err
}

// ready checks that c answers and can run the scripts.
func (g *GoRedis) ready(ctx context.Context, c interface {
	redis.Scripter
	Ping(ctx context.Context) *redis.StatusCmd
	FunctionLoad(ctx context.Context, code string) *redis.StringCmd
}) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return err
	}
	if g.mode.Load() != modeScripts {
		err := loadLibrary(ctx, c, g.lib)
		if err == nil {
			return nil
		}
		if !functionsUnsupported(err) {
			return err
		}
	}
	for _, s := range g.lib.Scripts {
		if err := g.evals[s].Load(ctx, c).Err(); err != nil {
			return err
		}
	}
	return nil
}

// ErrorPrefix implements Backend.
func (g *GoRedis) ErrorPrefix(err error) (string, bool) {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return "", false
	}
	return ErrorCode(rerr.Error())
}

// WrongType reports an error of a command on a key of another type.
func WrongType(b Backend, err error) bool {
	p, ok := b.ErrorPrefix(err)
	return ok && p == "WRONGTYPE"
}
