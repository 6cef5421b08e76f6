// Package backend is how attrcache talks to Redis: one interface, chosen
// once when a Store is made, behind which every decision about the client
// is taken (which node serves a key, each master, timeouts, the retry
// budget, the database, scripts as Functions or EVALSHA, WAIT, the near
// cache). Package attrcache calls the interface and nothing else; it
// never looks at a client's type. GoRedis implements it on go-redis;
// package rueidisstore implements it on rueidis.
package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Backend runs attrcache's commands on one Redis deployment: a single
// node, a Sentinel-managed master, a Redis Cluster or a ring of shards.
// It is safe for concurrent use.
type Backend interface {
	// Run runs s with keys (all in one hash slot) and args, in one round
	// trip, and decodes the reply. With a replica wait configured, WAIT
	// follows the script in the same round trip, and a write the master
	// applied but too few replicas acknowledged is a *NotReplicatedError
	// (with the reply). Errors from Redis or the network are returned
	// as the client gave them.
	Run(ctx context.Context, s *Script, keys []string, args []any) (Reply, error)

	// HMGet reads fields of the hash at key with one plain, cacheable
	// command. A key of another type is an error that WrongType reports.
	HMGet(ctx context.Context, key string, fields []string) ([]Field, error)

	// HMGetPair is HMGet of two fields, the common read (a record and its
	// marker), without the slices HMGet costs a call.
	HMGetPair(ctx context.Context, key, f0, f1 string) ([2]Field, error)

	// HGetAll reads the whole hash at key with one plain, cacheable
	// command.
	HGetAll(ctx context.Context, key string) (map[string]string, error)

	// Time samples the clock of the server that holds key.
	Time(ctx context.Context, key string) (Sample, error)

	// Del deletes keys (one hash slot).
	Del(ctx context.Context, keys ...string) error

	// Ping checks that every master answers and can run the scripts
	// (loading the library where it is missing). On a cluster the error
	// names each master that failed.
	Ping(ctx context.Context) error

	// Bound returns ctx bounded by d, unless it ends sooner, in the
	// cheapest form the client honours; call cancel when the call is
	// done.
	Bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)

	// Evict drops key from this process's near cache, after a write, so
	// that a read on the same process sees the write.
	Evict(key string)

	// Info describes the client: what telemetry and the Store need.
	Info() Info

	// ErrorPrefix returns the prefix of a Redis error reply in err's
	// chain (ERR, WRONGTYPE, READONLY, ...).
	ErrorPrefix(err error) (string, bool)
}

// Info is what a Backend tells about its client.
type Info struct {
	Topology string // "single", "sentinel", "cluster" or "ring"
	DB       int    // the database index (0 on a cluster)
	// Window is how long after it began a call may still reach Redis as
	// the client retries it: (retries + 1) x read timeout + the backoffs;
	// 0 when unbounded (no read timeout).
	Window time.Duration
	// Cache is the near cache's state, nil without one.
	Cache CacheStats
	// Abandons reports that the client does not bound a command's wait
	// by its context (go-redis without ContextTimeoutEnabled): the
	// backend then returns when the context ends and lets the command
	// finish in the background.
	Abandons bool
}

// CacheStats reports a near cache's hits and misses.
type CacheStats interface {
	Hits() uint64
	Misses() uint64
}

// Field is one value of an HMGET reply.
type Field struct {
	S  string
	OK bool // false: the field is absent
}

// Sample is a reading of a server's clock: Redis's time Ms was read at
// some instant between the local times Sent and Recv.
type Sample struct {
	Src        string // the server, as the clock names sources
	Ms         int64
	Sent, Recv time.Time
}

// Reply is a script's reply: a status, Redis's clock when it ran, and a
// payload of integers and strings.
type Reply struct {
	Code, Now int64
	Src       string // the server that ran it
	Vals      []Val
}

// Val is one element of a script reply's payload.
type Val struct {
	S     string
	N     int64
	IsInt bool
}

// Int returns payload element i as an integer.
func (r Reply) Int(i int) (int64, bool) {
	if i >= len(r.Vals) || !r.Vals[i].IsInt {
		return 0, false
	}
	return r.Vals[i].N, true
}

// Strings returns the payload's strings from element i on.
func (r Reply) Strings(i int) []string {
	var out []string
	for ; i < len(r.Vals); i++ {
		if !r.Vals[i].IsInt {
			out = append(out, r.Vals[i].S)
		}
	}
	return out
}

// ErrReply is the cause of a reply of a shape attrcache's scripts never
// send: something between attrcache and Redis is not what it expects.
var ErrReply = errors.New("unexpected script reply")

// NotReplicatedError is a write the master applied that too few replicas
// acknowledged in time.
type NotReplicatedError struct {
	Reply Reply
	Msg   string
}

func (e *NotReplicatedError) Error() string { return e.Msg }

// Waited judges WAIT's answer (acked replicas, or err) after a script
// the master applied, for both backends: fewer replicas than cfg asks for
// is a *NotReplicatedError carrying rep.
func Waited(rep Reply, acked int64, err error, cfg Config) (Reply, error) {
	if err != nil {
		return rep, &NotReplicatedError{Reply: rep, Msg: "WAIT failed: " + err.Error()}
	}
	if acked < int64(cfg.Replicas) {
		return rep, &NotReplicatedError{Reply: rep,
			Msg: fmt.Sprintf("%d of %d replicas acknowledged within %v", acked, cfg.Replicas, cfg.WaitTimeout)}
	}
	return rep, nil
}

// Script is one of attrcache's scripts: a function of the library, and
// the same code as a plain script where Functions are missing.
type Script struct {
	Name string // in the library: <library>_<Name>
	Func string // the function's full name
	Eval string // the library's helpers, the body, and a call of it

	fn any // Func as a command argument, boxed once
}

// Library is attrcache's Lua: shared helpers and one script per
// operation family, loaded once as a Redis Functions library (FCALL) on
// servers that have Functions, run as EVALSHA elsewhere.
type Library struct {
	Name    string // carries a digest of the code: versions never clash
	Code    string // FUNCTION LOAD's argument
	Scripts []*Script
}

// NewLibrary builds the library from lib (the helpers) and the scripts,
// each a body that defines a Lua function of its name taking (keys,
// argv).
func NewLibrary(prefix, lib string, scripts ...[2]string) *Library {
	h := sha256.New()
	h.Write([]byte(lib))
	for _, s := range scripts {
		h.Write([]byte(s[0]))
		h.Write([]byte(s[1]))
	}
	l := &Library{Name: prefix + "_" + hex.EncodeToString(h.Sum(nil)[:6])}
	code := "#!lua name=" + l.Name + "\n" + lib
	reg := ""
	for _, s := range scripts {
		name, body := s[0], s[1]
		sc := &Script{Name: name, Func: l.Name + "_" + name, fn: l.Name + "_" + name,
			Eval: lib + body + "\nreturn " + name + "(KEYS, ARGV)\n"}
		l.Scripts = append(l.Scripts, sc)
		code += body
		reg += fmt.Sprintf("redis.register_function('%s', %s)\n", sc.Func, name)
	}
	l.Code = code + reg
	return l
}

// NewStore makes an *attrcache.Store with attrcache.Option values on the
// Backend that make returns: package attrcache sets it when it is
// loaded, and a backend of another package (rueidisstore) calls it, so
// that the Store's constructor from a Backend is no part of attrcache's
// public API. attrcache applies the options first, then calls make with
// its script library and the Config they ask for (WithReplicaWait), as
// it does for its own go-redis backend.
var NewStore func(make func(lib *Library, cfg Config) (Backend, error), opts []any) (any, error)
