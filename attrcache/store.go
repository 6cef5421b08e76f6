package attrcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/clock"
	"github.com/attrcache/attrcache/internal/format"
)

// Client is what a Store needs from go-redis: scripts and functions for
// writes, plain hash reads, pipelines for WithReplicaWait, TIME for
// Redis's clock. *redis.Client (including Sentinel's failover client),
// *redis.ClusterClient and *redis.Ring satisfy it, and so do types that
// embed one; New reads the topology from the client's Options method and
// refuses a client that shows none.
type Client = backend.Client

// Store is the entry point: it holds the Redis backend, the namespace,
// the optional Cipher, the logger and the limits. A Store is safe for
// concurrent use and holds no per-session state.
type Store struct {
	be      backend.Backend
	ns      string
	cipher  Cipher
	log     *slog.Logger
	limits  Limits
	window  time.Duration // the longest a write may take to reach Redis
	timeout time.Duration // every call's deadline
	maxSess int
	policy  SessionPolicy
	sealAll bool
	sealed  map[string]bool
	clock   *clock.Clock
	tel     telemetry

	refreshing atomic.Bool // a background clock sample is under way
}

// New returns a Store on the client the application already has: a
// *redis.Client, *redis.ClusterClient, *redis.Ring, a Sentinel failover
// client, or a type that embeds one (for rueidis, see package
// rueidisstore). It does no I/O; scripts are loaded and Redis's clock is
// sampled on first use.
//
// A *redis.Client built with a client-side cache must use a NearCache
// (Options.ClientSideCache: attrcache.NewNearCache(...)), so that a read
// after a write on this Store sees the write; New refuses any other
// client-side cache with ErrInvalid, and a client whose topology it cannot
// see.
func New(rdb Client, opts ...Option) (*Store, error) {
	return open(opts, func(lib *backend.Library, cfg backend.Config) (backend.Backend, error) {
		if rdb == nil {
			return nil, errors.New("redis client is nil")
		}
		return backend.NewGoRedis(rdb, lib, cfg)
	})
}

// open applies opts, then makes the Store on the backend that mk
// returns for the script library and the replica wait the options set.
// New opens on go-redis; package rueidisstore opens through
// internal/backend's hook.
func open(opts []Option, mk func(*backend.Library, backend.Config) (backend.Backend, error)) (*Store, error) {
	s := defaultSettings()
	if err := s.applyAll(opts); err != nil {
		return nil, err
	}
	be, err := mk(library, backend.Config{Replicas: s.replicas, WaitTimeout: s.waitTimeout})
	if err != nil {
		return nil, invalidf(err.Error())
	}
	return newStore(be, s)
}

// newStore makes a Store on be with settings s.
func newStore(be backend.Backend, s settings) (*Store, error) {
	if (s.sealAll || len(s.sealed) > 0) && s.cipher == nil {
		return nil, invalidf("WithSealed needs WithCipher")
	}
	st := &Store{
		be:      be,
		ns:      s.ns,
		cipher:  s.cipher,
		log:     s.log,
		limits:  s.limits,
		timeout: s.timeout,
		maxSess: s.maxSessions,
		policy:  s.policy,
		sealAll: s.sealAll,
		sealed:  s.sealed,
		clock:   clock.New(nil),
	}
	// A write may reach Redis as long as the client retries it, at most
	// 25 s: the resend log keeps entries up to 30 s.
	info := be.Info()
	st.window = maxResendWindow
	if info.Window > 0 {
		st.window = min(max(info.Window, minResendWindow), maxResendWindow)
	}
	if info.Abandons {
		st.log.LogAttrs(context.Background(), slog.LevelDebug, "attrcache: the client does not bound commands by their context; "+
			"calls stop waiting at their deadline and leave the command to the client's read timeout",
			slog.Duration("call_timeout", st.timeout))
	}
	st.tel.telSettings = s.tel
	st.tel.init(st)
	return st, nil
}

func init() {
	backend.NewStore = func(mk func(*backend.Library, backend.Config) (backend.Backend, error), anys []any) (any, error) {
		opts := make([]Option, 0, len(anys))
		for _, o := range anys {
			switch o := o.(type) {
			case Option:
				opts = append(opts, o)
			case nil:
			default:
				return nil, invalidf(fmt.Sprintf("%T is not an attrcache.Option", o))
			}
		}
		return open(opts, mk)
	}
}

// Namespace returns the Store's key prefix.
func (s *Store) Namespace() string { return s.ns }

// Now returns Redis's clock as the Store estimates it (see
// internal/clock), and the bound on the estimate's error; ok is false
// before the Store has heard from Redis. It does no I/O. Session expiries
// (Entry.Expires, Session.Expiry) are on this clock: compare them with
// Now, not with the local clock, which may be minutes off. On a cluster
// whose masters' clocks disagree, it is the latest any master's clock may
// read, and the bound covers their disagreement.
func (s *Store) Now() (now time.Time, bound time.Duration, ok bool) {
	hi, ok := s.clock.Upper()
	if !ok {
		return time.Time{}, 0, false
	}
	lo, _ := s.clock.Lower()
	mid := (hi + lo) / 2
	return time.UnixMilli(mid), time.Duration(hi-mid) * time.Millisecond, true
}

// upper is the latest Redis's clock may read now, ms, sampling the
// server of key first when no estimate is known; reads judge expiry
// against it, so nothing expired reads as live.
func (s *Store) upper(ctx context.Context, key string) (int64, error) {
	if hi, ok, need := s.clock.UpperNeed(""); ok {
		if need == clock.Refresh {
			s.refresh(ctx, key)
		}
		return hi, nil
	}
	if err := s.sample(ctx, key); err != nil {
		return 0, err
	}
	hi, _ := s.clock.Upper()
	return hi, nil
}

// estimate is Redis's clock on the server of key, ms, and its bound,
// for times a write stamps in Go (a sealed value's expiry, a call's start
// and deadline).
func (s *Store) estimate(ctx context.Context, key string) (int64, time.Duration, error) {
	ms, bound, ok := s.clock.For("")
	if !ok || s.be.Info().Topology == "cluster" {
		// On a cluster, samples are per master: the master's own estimate
		// when known, else the widest.
		if lo, ok1 := s.clock.Lower(); ok1 {
			hi, _ := s.clock.Upper()
			ms, bound, ok = (lo+hi)/2, time.Duration(hi-(lo+hi)/2)*time.Millisecond, true
		}
	}
	if !ok {
		if err := s.sample(ctx, key); err != nil {
			return 0, 0, err
		}
		return s.estimate(ctx, key)
	}
	return ms, bound, nil
}

// sample reads the clock of key's server with TIME.
func (s *Store) sample(ctx context.Context, key string) error {
	smp, err := s.be.Time(ctx, key)
	if err != nil {
		return unavailable(err)
	}
	s.clock.Observe(smp.Src, smp.Sent, smp.Recv, smp.Ms)
	return nil
}

// refresh samples key's server in the background, one at a time.
func (s *Store) refresh(ctx context.Context, key string) {
	if !s.refreshing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.refreshing.Store(false)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.sample(ctx, key)
	}()
}

// observe feeds a script reply's clock reading to the estimate.
func (s *Store) observe(rep backend.Reply, sent time.Time) {
	s.clock.Observe(rep.Src, sent, time.Now(), rep.Now)
}

// Session returns a handle on the session with id sid. It does no I/O and
// does not check that the session exists; calls on the handle do. The
// handle keeps only a digest of sid. An empty id, or one longer than
// MaxIDBytes, gives a handle whose every call fails with
// ErrInvalid without reaching Redis.
func (s *Store) Session(sid string) *Session {
	d := format.Digest(sid)
	_, tag, tagged := format.SplitSessionID(sid)
	if !tagged {
		tag = ""
	}
	sess := s.sessionHandle(tag, d)
	switch {
	case sid == "":
		sess.bad = invalidf("session id is empty")
	case len(sid) > MaxIDBytes:
		sess.bad = invalidf(fmt.Sprintf("session id of %d bytes is over MaxIDBytes %d", len(sid), MaxIDBytes))
	}
	return sess
}

// sessionHandle is the Session whose digest is d, in user tag's slot (""
// for none).
func (s *Store) sessionHandle(tag, d string) *Session {
	k := format.SessionKeys(s.ns, tag, d)
	sess := &Session{tag: tag}
	sess.owner = owner{
		store:   s,
		keys:    [3]string{k.Hash, k.Overflow, k.Registry},
		digest:  d,
		logID:   logID(d),
		session: sess,
	}
	sess.boxKeys()
	return sess
}

// User returns a handle on the user with id uid: the user's attributes,
// shared by all of the user's sessions, and the user's sessions. It does
// no I/O. The handle keeps only a digest of uid. An empty id, or one
// longer than MaxIDBytes, gives a handle whose every call fails with
// ErrInvalid without reaching Redis.
func (s *Store) User(uid string) *User {
	usr := s.userHandle(format.UserDigest(s.ns, uid)[:format.TagLen])
	switch {
	case uid == "":
		usr.bad = invalidf("user id is empty")
	case len(uid) > MaxIDBytes:
		usr.bad = invalidf(fmt.Sprintf("user id of %d bytes is over MaxIDBytes %d", len(uid), MaxIDBytes))
	}
	return usr
}

// userHandle is the User whose tag is tag. A user is known by its tag
// alone: its keys and its ciphertexts' associated data are built from it.
func (s *Store) userHandle(tag string) *User {
	k := format.UserKeys(s.ns, tag)
	usr := &User{tag: tag}
	usr.owner = owner{
		store:  s,
		keys:   [3]string{k.Hash, k.Overflow, k.Registry},
		digest: "u" + tag,
		logID:  logID(tag),
	}
	usr.boxKeys()
	return usr
}

// logID is the short form of a digest that logs and spans carry: its
// first 8 characters (48 bits), enough to tell sessions apart in a log,
// far too few to find one by.
func logID(d string) string { return d[:8] }

// Ping checks that the Store can work: Redis answers, the scripts are
// loaded or loadable, and, on a cluster, every master answers. It is
// meant for readiness probes; it writes no session data. A failure is
// ErrUnavailable; on a cluster it names each master that failed, by
// address. Behind Sentinel it checks the master the client follows: it
// fails while that master is down and passes again once the sentinels
// have promoted a replica and the client has followed.
//
// Ping is traced and measured like any call (operation "ping").
func (s *Store) Ping(ctx context.Context) error {
	c := call{op: opPing}
	ctx, cancel := s.begin(ctx, &c, nil)
	defer cancel()
	err := s.be.Ping(ctx)
	return s.finish(ctx, &c, nil, unavailable(err))
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

var _ redis.UniversalClient = (*redis.Client)(nil) // Client is go-redis's
