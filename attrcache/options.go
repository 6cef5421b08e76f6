package attrcache

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
)

// Cipher seals attribute values. It is the shape of tink.AEAD, so any Tink
// AEAD primitive, and the envelope cipher of package keys, fit.
//
// Encrypt must be safe for concurrent use and must bind the ciphertext to
// associatedData: Decrypt with any other associated data must fail. The
// associated data attrcache passes is
//
//	namespace NUL owner NUL name 0x1f flags 0x1f expires
//
// where owner is the session's digest (base64url of SHA-256 of the id),
// or "u" and the user's digest; flags is "1" for a sealed value; expires
// is the attribute's own expiry in Unix milliseconds, "0" for none. No
// part before the last NUL can hold one, so the encoding is unambiguous,
// and that part is the same for every attribute of one owner (a cipher
// may derive a per-owner key from it; package keys does). So a
// ciphertext copied to another attribute, session or user does not open,
// nor one whose record was relabelled as plain or given another expiry.
//
// Decrypt must return an error, never panic, on arbitrary input. Errors
// must not hold plaintext: attrcache wraps them into its own errors, which
// reach logs.
type Cipher interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// Limits bound what one call and one session (or user) may hold. A zero
// field takes its default. Every limit is checked before anything is
// written; the per-session ones atomically inside the script, from
// counters the session keeps, so a check costs the same whatever the
// session holds.
//
// The defaults keep every call at default limits to a few milliseconds of
// Redis time at worst (a script blocks every client of its server while
// it runs) and a session to what a session needs: sessions carry roles,
// tokens and flags, not documents.
type Limits struct {
	// MaxNameBytes is the longest attribute name, in bytes. Default 128.
	MaxNameBytes int
	// MaxValueBytes is the longest value, in bytes, as given by the
	// caller (before encryption). Default 64 KiB.
	MaxValueBytes int
	// MaxCallBytes is the most bytes one write may send: names and
	// values as stored (ciphertexts for encrypted values). Default 512
	// KiB.
	MaxCallBytes int
	// MaxSessionBytes is the most bytes one session or user may hold: the
	// names and stored records of its attributes (headers of 1 to 19
	// bytes and values), expired ones included until they are reclaimed.
	// Default 512 KiB, at most 512 MiB - 1.
	MaxSessionBytes int
	// MaxAttributes is the most attributes one session or user may hold,
	// expired ones included until they are reclaimed. Default 1,000.
	MaxAttributes int
	// MaxBatch is the most attributes one *Many call may name. Default 1,000.
	MaxBatch int
}

// defaultLimits are the limits of a Store made without WithLimits.
var defaultLimits = Limits{
	MaxNameBytes:    128,
	MaxValueBytes:   64 << 10,
	MaxCallBytes:    512 << 10,
	MaxSessionBytes: 512 << 10,
	MaxAttributes:   1_000,
	MaxBatch:        1_000,
}

// Hard ceilings on the limits: past them a single call would hold Redis
// for seconds, a value would near Redis's 512 MB string limit, or a
// counter would not fit the marker.
const (
	hardMaxValueBytes   = 64 << 20
	hardMaxCallBytes    = 256 << 20
	hardMaxSessionBytes = 1<<29 - 1
	hardMaxAttributes   = 1<<24 - 1
	hardMaxBatch        = 100_000
	hardMaxNameBytes    = 64 << 10
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxNameBytes, defaultLimits.MaxNameBytes)
	def(&l.MaxValueBytes, defaultLimits.MaxValueBytes)
	def(&l.MaxCallBytes, defaultLimits.MaxCallBytes)
	def(&l.MaxSessionBytes, defaultLimits.MaxSessionBytes)
	def(&l.MaxAttributes, defaultLimits.MaxAttributes)
	def(&l.MaxBatch, defaultLimits.MaxBatch)
	return l
}

func (l Limits) validate() error {
	for _, c := range []struct {
		name     string
		v, limit int
	}{
		{"MaxNameBytes", l.MaxNameBytes, hardMaxNameBytes},
		{"MaxValueBytes", l.MaxValueBytes, hardMaxValueBytes},
		{"MaxCallBytes", l.MaxCallBytes, hardMaxCallBytes},
		{"MaxSessionBytes", l.MaxSessionBytes, hardMaxSessionBytes},
		{"MaxAttributes", l.MaxAttributes, hardMaxAttributes},
		{"MaxBatch", l.MaxBatch, hardMaxBatch},
	} {
		if c.v < 0 {
			return invalidf(c.name + " must not be negative")
		}
		if c.v > c.limit {
			return invalidf(fmt.Sprintf("%s %d is over %d", c.name, c.v, c.limit))
		}
	}
	return nil
}

// settings is what the options set; New turns them into a Store.
type settings struct {
	ns          string
	cipher      Cipher
	log         *slog.Logger
	limits      Limits
	replicas    int
	waitTimeout time.Duration
	timeout     time.Duration
	timeoutSet  bool // WithCallTimeout was given
	maxSessions int
	policy      SessionPolicy
	sealAll     bool
	sealed      map[string]bool
	tel         telSettings
}

func defaultSettings() settings {
	return settings{
		ns:          "attrcache",
		log:         slog.New(slog.DiscardHandler),
		limits:      defaultLimits,
		timeout:     defaultCallTimeout,
		maxSessions: defaultMaxSessions,
		policy:      EndOldest,
	}
}

// Option configures a Store in New. A nil Option is ignored. Options are
// values made by the With functions; nothing outside this package can
// apply one.
type Option struct{ apply func(*settings) error }

// CheckOptions reports the first option New would refuse, without a
// client: configuration loaders validate settings with it before they
// connect.
func CheckOptions(opts ...Option) error {
	s := defaultSettings()
	return s.applyAll(opts)
}

func (s *settings) applyAll(opts []Option) error {
	for _, o := range opts {
		if o.apply == nil {
			continue
		}
		if err := o.apply(s); err != nil {
			return err
		}
	}
	// A write that waits for replicas needs its wait and a round trip
	// inside its deadline, or it ends at the deadline instead of
	// reporting ErrNotReplicated.
	if s.replicas > 0 {
		switch {
		case !s.timeoutSet:
			s.timeout = s.waitTimeout + defaultCallTimeout
		case s.timeout <= s.waitTimeout:
			return invalidf(fmt.Sprintf("call timeout %v must be longer than WithReplicaWait's timeout %v, "+
				"or a write waiting for replicas ends at its deadline", s.timeout, s.waitTimeout))
		}
	}
	return nil
}

// WithNamespace sets the prefix of every key the Store writes, so several
// applications or environments can share one Redis. Default "attrcache".
// A namespace is 1 to 64 printable characters without '{' or '}' (keys
// carry hash tags of their own).
func WithNamespace(ns string) Option {
	return Option{func(s *settings) error {
		switch {
		case ns == "" || len(ns) > 64:
			return invalidf("namespace must be 1 to 64 bytes")
		case strings.ContainsAny(ns, "{}"):
			return invalidf("namespace must not contain '{' or '}'")
		case strings.IndexFunc(ns, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) >= 0:
			return invalidf("namespace must be printable UTF-8")
		}
		s.ns = ns
		return nil
	}}
}

// WithCipher sets the Cipher that seals values written with
// WithEncryption (or named by WithSealed) and opens them on read.
func WithCipher(c Cipher) Option {
	return Option{func(s *settings) error {
		if c == nil {
			return invalidf("cipher is nil")
		}
		s.cipher = c
		return nil
	}}
}

// WithSealed makes the named attributes sealed whatever the call says,
// and refuses on read a record of one of them that is not sealed: it
// reads as ErrDecrypt, so a plain record planted in Redis in place of a
// sealed one is never taken for it. With no names, every attribute of
// the Store is sealed (Incr is then refused). It needs WithCipher; costs
// nothing in memory.
func WithSealed(names ...string) Option {
	return Option{func(s *settings) error {
		if len(names) == 0 {
			s.sealAll = true
			return nil
		}
		if s.sealed == nil {
			s.sealed = map[string]bool{}
		}
		for _, n := range names {
			if n == "" {
				return invalidf("WithSealed names an empty attribute")
			}
			s.sealed[n] = true
		}
		return nil
	}}
}

// WithLogger sets the logger. Every call logs at debug level its
// operation, attribute names or count, duration, outcome and a short
// digest of the session or user id; never a value or an id. Default: no
// logging.
func WithLogger(l *slog.Logger) Option {
	return Option{func(s *settings) error {
		if l == nil {
			return invalidf("logger is nil")
		}
		s.log = l
		return nil
	}}
}

// WithLimits sets the limits; zero fields keep their defaults.
func WithLimits(l Limits) Option {
	return Option{func(s *settings) error {
		if err := l.validate(); err != nil {
			return err
		}
		s.limits = l.withDefaults()
		return nil
	}}
}

// WithReplicaWait makes every write wait until at least replicas replicas
// of the key's master have it (Redis WAIT, sent in the same pipeline, so
// still one round trip), for at most timeout. A write that the master
// applied but too few replicas acknowledged returns ErrNotReplicated: it
// is visible, but a failover may lose it. timeout must be positive and
// below the client's read timeout (New checks it). Without
// WithCallTimeout, calls then get timeout plus the default 1 s as their
// deadline; an explicit call timeout must be longer than timeout. Works
// with a single-node, Sentinel or cluster client, not with a Ring.
func WithReplicaWait(replicas int, timeout time.Duration) Option {
	return Option{func(s *settings) error {
		if replicas < 1 || timeout < time.Millisecond || timeout > maxResendWindow-defaultCallTimeout {
			return invalidf(fmt.Sprintf("WithReplicaWait needs at least 1 replica and a timeout between 1ms and %v",
				maxResendWindow-defaultCallTimeout))
		}
		s.replicas, s.waitTimeout = replicas, timeout
		return nil
	}}
}

// defaultCallTimeout is how long a call may take by default (see
// WithCallTimeout).
const defaultCallTimeout = time.Second

// WithCallTimeout bounds every call: its context gets this deadline
// unless it has an earlier one. Default 1 s (plus the wait with
// WithReplicaWait), so that a request whose Redis is frozen fails in
// about a second, not after the client's read timeout times its
// retries. d must be between 10 ms and 25 s.
//
// The deadline reaches the socket only when the client honours contexts
// (go-redis: Options.ContextTimeoutEnabled, which package config sets);
// with a go-redis client that does not, the Store stops waiting at the
// deadline and lets the command finish in the background, bounded by the
// client's own read timeout.
func WithCallTimeout(d time.Duration) Option {
	return Option{func(s *settings) error {
		if d < 10*time.Millisecond || d > maxResendWindow {
			return invalidf(fmt.Sprintf("call timeout must be between 10ms and %v", maxResendWindow))
		}
		s.timeout, s.timeoutSet = d, true
		return nil
	}}
}

const (
	minResendWindow = time.Second
	maxResendWindow = 25 * time.Second
)

// SessionPolicy says what Start does when a user already has the most
// sessions WithMaxSessions allows.
type SessionPolicy uint8

const (
	// EndOldest ends the user's oldest live session (by start time) to
	// make room.
	EndOldest SessionPolicy = iota + 1
	// RefuseNew makes Start fail with ErrTooManySessions and create
	// nothing.
	RefuseNew
)

// defaultMaxSessions is the most live sessions one user may have, unless
// WithMaxSessions says otherwise (100; past it EndOldest applies).
const defaultMaxSessions = 100

// WithMaxSessions caps the live sessions of one user (sessions started
// WithUser) at n, with policy deciding what a Start beyond the cap does.
// Without it a user may have 100 live sessions, and Start ends the
// oldest beyond that.
// The cap holds under concurrent logins: it is checked in the same
// script that starts the session. n must be between 1 and 10,000.
func WithMaxSessions(n int, policy SessionPolicy) Option {
	return Option{func(s *settings) error {
		if n < 1 || n > 10_000 {
			return invalidf("WithMaxSessions needs between 1 and 10000 sessions")
		}
		if policy != EndOldest && policy != RefuseNew {
			return invalidf("WithMaxSessions needs the policy EndOldest or RefuseNew")
		}
		s.maxSessions, s.policy = n, policy
		return nil
	}}
}

// WriteOption refines one write: a call's defaults, or one Attr of a
// batch. A nil WriteOption is ignored.
type WriteOption func(*writeSpec)

// applyWrite returns base refined by opts. As in readOptions, the spec
// goes to the heap only when there are options to apply.
func applyWrite(base writeSpec, opts []WriteOption) writeSpec {
	if len(opts) == 0 {
		return base
	}
	w := new(writeSpec)
	*w = base
	for _, o := range opts {
		if o != nil {
			o(w)
		}
	}
	return *w
}

type writeSpec struct {
	expire      time.Duration // > 0 set, 0 not given
	noExpire    bool          // explicit "no expiry of its own"
	encrypt     bool
	badDuration bool // a non-positive or absurd duration was given
}

// WithExpiration makes the attribute expire d after the call (Redis's
// clock): its own expiry, which renewing the session neither cuts short
// nor extends (a read never reports it past the session's end). d must be
// at least a millisecond and at most MaxExpiration, or the call fails
// with ErrInvalid. Without it, Create makes an attribute that lives as
// long as its session (or user), and Set and Update keep the attribute's
// current expiry.
func WithExpiration(d time.Duration) WriteOption {
	return func(w *writeSpec) {
		w.noExpire = false
		w.expire = d
		w.badDuration = !validDuration(d)
	}
}

// WithoutExpiration makes the attribute live as long as its session,
// overriding a call's WithExpiration for one Attr, or removing an existing
// expiry on Set and Update.
func WithoutExpiration() WriteOption {
	return func(w *writeSpec) {
		w.noExpire = true
		w.expire = 0
		w.badDuration = false
	}
}

// WithEncryption seals the value with the Store's Cipher before it leaves
// the process. Without a Cipher the call fails with ErrNoCipher.
func WithEncryption() WriteOption { return func(w *writeSpec) { w.encrypt = true } }

// WithoutEncryption stores the value in clear, overriding a call's
// WithEncryption for one Attr (not a name WithSealed names).
func WithoutEncryption() WriteOption { return func(w *writeSpec) { w.encrypt = false } }

// ReadOption refines a read. A nil ReadOption is ignored.
type ReadOption func(*readSpec)

type readSpec struct {
	raw     bool
	partial bool
}

// readOptions applies opts. The spec escapes to the options' functions,
// so it is made on the heap, and only when there are options: a read
// without any, nearly every read, allocates nothing here.
func readOptions(opts []ReadOption) readSpec {
	if len(opts) == 0 {
		return readSpec{}
	}
	r := new(readSpec)
	for _, o := range opts {
		if o != nil {
			o(r)
		}
	}
	return *r
}

// WithoutDecryption returns encrypted values as stored (the ciphertext)
// instead of opening them; Entry.Encrypted tells which values those are.
// It needs no Cipher.
func WithoutDecryption() ReadOption { return func(r *readSpec) { r.raw = true } }

// WithPartialResults lets GetMany and GetAll return the attributes they
// could read when some could not: a corrupt record, or a value that does
// not decrypt (its key disabled, say). The map holds the readable ones;
// the error, a *NamesError wrapping ErrCorrupt or ErrDecrypt, names the
// others. So an application can drop an undecryptable attribute instead
// of losing the whole session. Errors that are not about particular
// records (the session is gone, Redis is unreachable) still return no
// map.
func WithPartialResults() ReadOption { return func(r *readSpec) { r.partial = true } }

// StartOption refines Start. A nil StartOption is ignored.
type StartOption func(*startSpec)

type startSpec struct {
	maxLifetime time.Duration
	bad         string
	attrs       []Attr
	user        string
	hasUser     bool
}

// WithMaxLifetime gives the session an absolute lifetime: d after Start,
// it ends whatever the renewals. Renew never takes the session's expiry
// past it, and says so in the expiry it returns. d must be between 1 ms
// and MaxExpiration; a ttl longer than d is cut to d.
func WithMaxLifetime(d time.Duration) StartOption {
	return func(s *startSpec) {
		s.maxLifetime = d
		if !validDuration(d) {
			s.bad = "max lifetime must be between 1ms and MaxExpiration"
		}
	}
}

// WithAttrs gives the session its first attributes in the same script
// call that starts it, all or nothing: an attribute Create would refuse
// (a bad name, a value over the limits, encryption without a Cipher)
// refuses the Start, and no key is left behind. The attributes are
// created as by CreateMany.
func WithAttrs(attrs ...Attr) StartOption {
	return func(s *startSpec) { s.attrs = append(s.attrs, attrs...) }
}

// WithUser binds the session to user id uid: it joins the user's
// registry (User.Sessions lists it, User.EndSessions ends it), counts
// against WithMaxSessions, and lives in the user's hash slot. Its id must
// carry the user's tag: make it with User.NewSessionID. uid is 1 to
// MaxIDBytes bytes; it never reaches Redis, logs or errors in clear.
func WithUser(uid string) StartOption {
	return func(s *startSpec) { s.user, s.hasUser = uid, true }
}

// MaxExpiration is the longest expiration or session lifetime accepted:
// longer ones are ErrInvalid.
const MaxExpiration = 100 * 365 * 24 * time.Hour

func validDuration(d time.Duration) bool {
	return d >= time.Millisecond && d <= MaxExpiration
}

// MaxIDBytes is the longest session id (Start, Store.Session) and user id
// (Store.User, WithUser) accepted. Session ids from NewSessionID are 43
// bytes, from User.NewSessionID 60.
const MaxIDBytes = 512
