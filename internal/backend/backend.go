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
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/attrcache/attrcache/internal/format"
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
	Run(ctx context.Context, s *Script, keys Keys, args []any) (Reply, error)

	// HMGet reads fields of the hash at key with one plain, cacheable
	// command. A key of another type is an error that WrongType reports.
	HMGet(ctx context.Context, key string, fields []string) ([]Field, error)

	// HMGetPair is HMGet of two fields of the hash named by key's first
	// name, the common read (a record and its marker), without the slices
	// HMGet costs a call. f1 is used during the call only: a caller that
	// holds it in memory it allocated anyway spares the client a copy of
	// the name and the command its argument list.
	HMGetPair(ctx context.Context, key Keys, f0 string, f1 *PairName) ([2]Field, error)

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
	// done. room, when not nil, is where the bounded context may live,
	// inside an allocation the caller makes anyway; it must not be
	// reused while the returned context may be in use.
	Bound(ctx context.Context, d time.Duration, room *Room) (context.Context, context.CancelFunc)

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

// Keys are the keys a script names (one hash slot). Args, when it is
// set, holds each name as a command argument already boxed (a *Text in
// the owner's memory), so that a client that takes arguments as values
// of type any does not box the names on every call; without it they are
// boxed per call.
type Keys struct {
	Names []string
	Args  []any
}

// arg returns name i as a command argument.
func (k Keys) arg(i int) any {
	if i < len(k.Args) {
		return k.Args[i]
	}
	return k.Names[i]
}

// Text is a string command argument (a key or an attribute's name, never
// a value) that a caller keeps in memory it allocated anyway and passes
// as &t: boxing a pointer costs no allocation where boxing a string
// costs one. It prints as its string, as a tracing hook records it, and
// marshals without a copy.
type Text struct{ S string }

// String returns the text.
func (t *Text) String() string { return t.S }

// MarshalBinary returns the text's bytes, which the caller must not
// modify: clients copy them onto the wire.
func (t *Text) MarshalBinary() ([]byte, error) {
	return unsafe.Slice(unsafe.StringData(t.S), len(t.S)), nil
}

// PairName is the second field HMGetPair reads, with room for the
// command's arguments where a backend builds the command itself.
type PairName struct {
	Text
	args [4]any
}

// Room is where Bound may put the context it returns (see Bound). Its
// zero value is ready; it holds nothing a caller reads.
type Room struct {
	ctx  deadlineCtx
	step stepCtx
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
// payload of integers and strings (Len, Val). A payload of up to
// inlineVals elements, every single write's, is held in the Reply
// itself, without an allocation.
type Reply struct {
	Code, Now int64
	Src       string // the server that ran it
	n         int
	head      [inlineVals]Val
	rest      []Val
}

// inlineVals is how many payload elements a Reply holds in itself: a
// write's deadline, reclaimed count and counter.
const inlineVals = 3

// Val is one element of a script reply's payload.
type Val struct {
	S     string
	N     int64
	IsInt bool
}

// Add appends v to the payload; Backends use it to decode a reply.
func (r *Reply) Add(v Val) {
	if r.n < inlineVals {
		r.head[r.n] = v
	} else {
		r.rest = append(r.rest, v)
	}
	r.n++
}

// Len is the number of payload elements.
func (r Reply) Len() int { return r.n }

// Val returns payload element i, or a zero Val past the end.
func (r Reply) Val(i int) Val {
	switch {
	case i < 0 || i >= r.n:
		return Val{}
	case i < inlineVals:
		return r.head[i]
	default:
		return r.rest[i-inlineVals]
	}
}

// Int returns payload element i as an integer.
func (r Reply) Int(i int) (int64, bool) {
	v := r.Val(i)
	return v.N, v.IsInt
}

// Strings returns the payload's strings from element i on.
func (r Reply) Strings(i int) []string {
	var out []string
	for ; i < r.n; i++ {
		if v := r.Val(i); !v.IsInt {
			out = append(out, v.S)
		}
	}
	return out
}

// ShortReply decodes a write's OK sent as one string (write.lua's fast
// path): the status byte, the session's deadline (6 bytes, big-endian
// milliseconds), Redis's TIME as it answered it (seconds '.'
// microseconds, in decimal), then, for an incr, ':' and the counter. It
// has the payload of the OK table: the deadline, 0 reclaimed records,
// and the counter.
func ShortReply(s string) (Reply, error) {
	if len(s) < 10 {
		return Reply{}, fmt.Errorf("%w: a string of %d bytes", ErrReply, len(s))
	}
	deadline := format.Uint48(s[1:7])
	clock, counter, hasCounter := strings.Cut(s[7:], ":")
	sec, usec, ok := strings.Cut(clock, ".")
	secs, err1 := strconv.ParseInt(sec, 10, 64)
	usecs, err2 := strconv.ParseInt(usec, 10, 64)
	if !ok || err1 != nil || err2 != nil || secs < 0 || usecs < 0 || usecs >= 1e6 {
		return Reply{}, fmt.Errorf("%w: a clock that is no TIME", ErrReply)
	}
	rep := Reply{Code: int64(s[0]), Now: secs*1000 + usecs/1000}
	rep.Add(Val{N: deadline, IsInt: true})
	rep.Add(Val{IsInt: true})
	if hasCounter {
		n, err := strconv.ParseInt(counter, 10, 64)
		if err != nil {
			return Reply{}, fmt.Errorf("%w: a counter that is no integer", ErrReply)
		}
		rep.Add(Val{N: n, IsInt: true})
	}
	return rep, nil
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
