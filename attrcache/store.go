// Package attrcache keeps per-session named attributes in Redis.
//
// Each session is one Redis hash whose key holds a SHA-256 digest of the
// session id, never the id itself. Every write, single or batch, is one
// Lua script on that one key: atomic, one round trip, and slot-local on
// Redis Cluster. Every read is one plain command (HMGET or HGETALL),
// judged in Go from the same bytes, so it costs Redis what the raw command
// costs and go-redis's client-side cache can answer it (see NearCache).
// Time comes from the Redis server, so every application instance agrees
// on expiry. Attributes may expire on their own, never outlive their
// session, and may be sealed with a Cipher (see package keys).
//
// Writes are exactly-once: go-redis resends a call whose reply was lost,
// and a resent call reports its first run's outcome and changes nothing,
// even when other writes came in between (see the resend log in
// record.go). No call does work in Redis that grows with the session: the
// limits are checked from counters the session keeps, and expired
// records are reclaimed a few at a time by writes.
//
// Every error returned is, or wraps, one of the package's sentinels, so
// errors.Is tells them apart. Errors from Redis or the network, and
// cancelled or expired contexts, wrap ErrUnavailable together with the
// cause (errors.Is(err, context.Canceled) still works). A write that
// fails with ErrUnavailable or ErrNotReplicated may have been applied;
// any other error means it was not.
//
// # Telemetry
//
// Every call makes one OpenTelemetry span and one measurement of a
// call-duration histogram, and a few counters count resends recognised,
// records reclaimed, corrupt and undecryptable records, and near cache
// hits and misses; WithTracerProvider and WithMeterProvider document them.
// Only the OpenTelemetry API is used: the application brings the SDK. With
// neither option, the Store follows the global providers; until the
// application installs one (otel.SetTracerProvider, SetMeterProvider),
// before or after New, a call only checks that, and allocates nothing
// for it.
//
// A span's context reaches go-redis with every command, so with go-redis's
// own instrumentation (redisotel.InstrumentTracing) each command's span is
// a child of the attrcache span that sent it:
//
//	POST /login
//	  attrcache.start        > fcall
//	  attrcache.create_many  > fcall
//	  attrcache.get          > hmget
//
// attrcache's span tells which operation ran, on how many attributes,
// with what outcome; go-redis's tells which server and command. Give
// redisotel WithDBStatement(false): its statements are the commands'
// arguments, which hold session keys and attribute values.
package attrcache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is what a Store needs from go-redis: scripts and functions for
// writes, plain hash reads, pipelines for WithReplicaWait and rotation,
// TIME for Redis's clock. *redis.Client, *redis.ClusterClient,
// *redis.Ring and the Sentinel failover client all satisfy it, as do
// wrappers that embed one.
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

// Store is the entry point: it holds the Redis client, the namespace, the
// optional Cipher, the logger and the limits. A Store is safe for
// concurrent use and holds no per-session state.
type Store struct {
	rdb    Client
	ns     string
	cipher Cipher
	log    *slog.Logger
	limits Limits
	wait   replicaWait
	window time.Duration // resend window of a write
	near   *NearCache    // the client's near cache, evicted after writes
	clock  clock
	run    runner
	tel    telemetry

	maxAttrs, maxBytes any // limits.MaxAttributes and MaxSessionBytes, boxed once for write.lua
}

type replicaWait struct {
	replicas int
	timeout  time.Duration
}

const (
	minResendWindow     = time.Second
	maxResendWindow     = 25 * time.Second
	defaultResendWindow = 25 * time.Second
)

// New returns a Store on the client the application already has: any
// *redis.Client, *redis.ClusterClient, *redis.Ring, a Sentinel failover
// client or a wrapper of them. It does no I/O; scripts are loaded and
// Redis's clock is sampled on first use.
//
// A *redis.Client built with a client-side cache must use a NearCache
// (Options.ClientSideCache: attrcache.NewNearCache(...)), so that a read
// after a write on this Store sees the write; New refuses any other
// client-side cache with ErrInvalid.
func New(rdb Client, opts ...Option) (*Store, error) {
	if rdb == nil {
		return nil, invalidf("redis client is nil")
	}
	s := &Store{
		rdb:    rdb,
		ns:     "attrcache",
		log:    slog.New(slog.DiscardHandler),
		limits: DefaultLimits,
	}
	s.clock.now = time.Now
	s.window = resendWindow(rdb)
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.wait.replicas > 0 {
		if err := s.waitCheck(); err != nil {
			return nil, err
		}
	}
	if c, ok := rdb.(*redis.Client); ok {
		o := c.Options()
		switch cache := o.ClientSideCache.(type) {
		case *NearCache:
			if o.Protocol == 3 && o.DB == 0 {
				s.near = cache
			}
		case nil:
			if o.ClientSideCacheConfig != nil && o.Protocol == 3 {
				return nil, invalidf("the client's ClientSideCacheConfig builds a cache attrcache cannot evict after its writes; " +
					"set Options.ClientSideCache to attrcache.NewNearCache(config) instead")
			}
		default:
			if o.Protocol == 3 {
				return nil, invalidf(fmt.Sprintf("the client's client-side cache is a %T; attrcache needs an *attrcache.NearCache "+
					"so that a read after a write sees it", cache))
			}
		}
	}
	s.maxAttrs, s.maxBytes = s.limits.MaxAttributes, s.limits.MaxSessionBytes
	s.run.init(s)
	s.tel.init(s)
	return s, nil
}

// resendWindow derives the resend window from the client's retry
// settings, when they are visible.
func resendWindow(rdb Client) time.Duration {
	var retries, redirects int
	var read, backoff time.Duration
	switch c := rdb.(type) {
	case *redis.Client:
		o := c.Options()
		retries, read, backoff = o.MaxRetries, o.ReadTimeout, o.MaxRetryBackoff
	case *redis.ClusterClient:
		o := c.Options()
		retries, redirects, read, backoff = o.MaxRetries, o.MaxRedirects, o.ReadTimeout, o.MaxRetryBackoff
	case *redis.Ring:
		o := c.Options()
		retries, read, backoff = o.MaxRetries, o.ReadTimeout, o.MaxRetryBackoff
	default:
		return defaultResendWindow
	}
	retries = max(retries, redirects, 0)
	if read <= 0 { // -1 and -2 mean no deadline: go-redis waits as long as the context lets it
		return maxResendWindow
	}
	if backoff < 0 {
		backoff = 0
	}
	w := time.Duration(retries+1)*read + time.Duration(retries)*backoff
	return min(max(w, minResendWindow), maxResendWindow)
}

// waitCheck refuses clients on which WithReplicaWait cannot work: WAIT
// must reach the node that took the write, on the same connection, and
// must answer before the client's read timeout gives up on it.
func (s *Store) waitCheck() error {
	var read time.Duration
	switch c := s.rdb.(type) {
	case *redis.Ring:
		return invalidf("WithReplicaWait does not work on a *redis.Ring")
	case *redis.Client:
		read = c.Options().ReadTimeout
	case *redis.ClusterClient:
		read = c.Options().ReadTimeout
	}
	if read > 0 && s.wait.timeout >= read {
		return invalidf(fmt.Sprintf("WithReplicaWait timeout %v must be below the client's ReadTimeout %v, "+
			"or every write would time out waiting for it", s.wait.timeout, read))
	}
	return nil
}

// pipeline returns a pipeline on the connection pool of the master that
// holds key.
func (s *Store) pipeline(ctx context.Context, key string) (redis.Pipeliner, error) {
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, unavailable(err)
		}
		return node.Pipeline(), nil
	}
	return s.rdb.Pipeline(), nil
}

// Now returns Redis's clock as the Store estimates it (see clock.go), and
// the bound on the estimate's error; ok is false before the Store has
// heard from Redis. It does no I/O. Session expiries (Entry.Expires,
// Session.Expiry) are on this clock: compare them with Now, not with the
// local clock, which may be minutes off.
func (s *Store) Now() (now time.Time, bound time.Duration, ok bool) {
	ms, bound, ok := s.clock.estimate()
	if !ok {
		return time.Time{}, 0, false
	}
	return time.UnixMilli(ms), bound, true
}

// Namespace returns the Store's key prefix.
func (s *Store) Namespace() string { return s.ns }

// Limits returns the limits in force, defaults filled in.
func (s *Store) Limits() Limits { return s.limits }

// ResendWindow returns how long after it began a write may still be
// applied (see WithResendWindow).
func (s *Store) ResendWindow() time.Duration { return s.window }

// Session returns a handle on the session with id sid. It does no I/O and
// does not check that the session exists; calls on the handle do. The
// handle keeps only a digest of sid. An empty id, or one longer than
// MaxSessionIDBytes, gives a handle whose every call fails with
// ErrInvalid without reaching Redis.
func (s *Store) Session(sid string) *Session {
	sum := sha256.Sum256([]byte(sid))
	sess := s.handle(sum[:])
	switch {
	case sid == "":
		sess.bad = invalidf("session id is empty")
	case len(sid) > MaxSessionIDBytes:
		sess.bad = invalidf(fmt.Sprintf("session id of %d bytes is over MaxSessionIDBytes %d", len(sid), MaxSessionIDBytes))
	}
	return sess
}

// handle is the Session whose key holds the SHA-256 digest sum; a
// handle without a digest (nil) has no key and must be marked bad.
func (s *Store) handle(sum []byte) *Session {
	if sum == nil {
		return &Session{store: s}
	}
	digest := base64.RawURLEncoding.EncodeToString(sum)
	return &Session{
		store:  s,
		keys:   [1]string{s.ns + ":s:" + digest},
		digest: digest,
		logID:  hex.EncodeToString(sum[:4]),
	}
}

// Session is a handle on one session's attributes. It is cheap, safe for
// concurrent use, and holds a digest of the session id, never the id.
type Session struct {
	store  *Store
	keys   [1]string    // the Redis key, namespace ":s:" base64url(SHA-256(sid)), as scripts take it
	digest string       // base64url(SHA-256(sid)), bound into ciphertexts
	logID  string       // first 4 bytes of the digest, hex: safe to log
	bad    error        // the id is not one any session can have
	seen   atomic.Int64 // the session's deadline (ms) in the last reply seen
	most   atomic.Int64 // its absolute deadline (ms) in the last read; 0: none or not read yet
}

// MaxExpiry returns the session's absolute deadline (WithMaxLifetime) as
// this handle's last read saw it; ok is false before any read, or when
// the session has no absolute lifetime. It does no I/O. When Expiry
// equals MaxExpiry, Renew can no longer extend the session.
func (s *Session) MaxExpiry() (t time.Time, ok bool) {
	ms := s.most.Load()
	if ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Expiry returns the session's expiry as this handle last saw it, in the
// reply of its last read, write, Start or Renew; ok is false before any.
// It does no I/O. It lets a caller decide whether a session needs
// renewing (web middleware renews when half its idle time is gone)
// without a round trip of its own.
func (s *Session) Expiry() (t time.Time, ok bool) {
	ms := s.seen.Load()
	if ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Key returns the Redis key holding the session's hash, for operators
// and tests. It contains a digest of the session id, never the id.
func (s *Session) Key() string { return s.keys[0] }

// ID returns a short digest of the session id that is safe to log and to
// show operators; it is what this package logs as "session".
func (s *Session) ID() string { return s.logID }

// appendAD appends to ad the associated data that binds a ciphertext to
// its namespace, session and attribute name (see Cipher).
func (s *Session) appendAD(ad []byte, name string) []byte {
	ad = append(ad, s.store.ns...)
	ad = append(ad, 0)
	ad = append(ad, s.digest...)
	ad = append(ad, 0)
	return append(ad, name...)
}

// Ping checks that the Store can work: Redis answers, the write scripts
// are loaded or loadable, and, on a cluster, every master answers. It is
// meant for readiness probes; it writes no session data. A failure is
// ErrUnavailable; on a cluster it names each master that failed, by
// address. Behind Sentinel it checks the master the client follows: it
// fails while that master is down and passes again once the sentinels
// have promoted a replica and the client has followed.
//
// Ping is traced and measured like any call (operation "ping").
func (s *Store) Ping(ctx context.Context) error {
	c := call{op: opPing}
	ctx = s.tel.begin(ctx, &c, "")
	err := s.ping(ctx)
	return s.finish(ctx, &c, "", err)
}

func (s *Store) ping(ctx context.Context) error {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return s.run.ready(ctx, s.rdb)
	}
	var (
		mu   sync.Mutex // ForEachMaster calls each master in a goroutine of its own
		errs []error
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		if err := s.run.ready(ctx, node); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("master %s: %w", node.Options().Addr, err))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	// The same masters failing give the same text, whatever finished first.
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// unavailable wraps an error from Redis, the network or the context in
// ErrUnavailable, keeping the cause for errors.Is.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var ours *unavailableError
	if errors.As(err, &ours) {
		return err
	}
	return &unavailableError{cause: err}
}

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return ErrUnavailable.Error() + ": " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// Is answers errors.Is(err, ErrUnavailable) without Unwrap's slice, so
// that judging a fault allocates nothing.
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
