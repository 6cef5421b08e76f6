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
// associated data attrcache passes is the namespace, the session digest
// (base64url of SHA-256 of the session id) and the attribute name, each
// followed by a NUL byte except the last: "ns\x00digest\x00name". None of
// the three can hold a NUL, so the encoding is unambiguous, and the part
// before the last NUL is the same for every attribute of a session (a
// cipher may derive a per-session key from it; package keys does). So a
// ciphertext copied to another attribute or session does not open.
//
// Decrypt must return an error, never panic, on arbitrary input. Errors
// must not hold plaintext: attrcache wraps them into its own errors, which
// reach logs.
type Cipher interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// Limits bound what one call and one session may hold. A zero field takes
// its default. Every limit is checked before anything is written; the
// per-session ones atomically inside the script, from counters the
// session keeps, so a check costs the same whatever the session holds.
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
	// MaxSessionBytes is the most bytes one session may hold: the names
	// and stored records (19-byte header and value) of its attributes,
	// expired ones included until they are reclaimed. Default 512 KiB.
	MaxSessionBytes int
	// MaxAttributes is the most attributes one session may hold, expired
	// ones included until they are reclaimed. Default 1,000.
	MaxAttributes int
	// MaxBatch is the most attributes one *Many call may name. Default 1,000.
	MaxBatch int
}

// DefaultLimits are the limits of a Store made without WithLimits.
var DefaultLimits = Limits{
	MaxNameBytes:    128,
	MaxValueBytes:   64 << 10,
	MaxCallBytes:    512 << 10,
	MaxSessionBytes: 512 << 10,
	MaxAttributes:   1_000,
	MaxBatch:        1_000,
}

// Hard ceilings on the limits: past them a single call would hold Redis
// for seconds, or a value would near Redis's 512 MB string limit.
const (
	hardMaxValueBytes   = 64 << 20
	hardMaxCallBytes    = 256 << 20
	hardMaxSessionBytes = 1 << 40
	hardMaxBatch        = 100_000
	hardMaxNameBytes    = 64 << 10
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxNameBytes, DefaultLimits.MaxNameBytes)
	def(&l.MaxValueBytes, DefaultLimits.MaxValueBytes)
	def(&l.MaxCallBytes, DefaultLimits.MaxCallBytes)
	def(&l.MaxSessionBytes, DefaultLimits.MaxSessionBytes)
	def(&l.MaxAttributes, DefaultLimits.MaxAttributes)
	def(&l.MaxBatch, DefaultLimits.MaxBatch)
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
		{"MaxAttributes", l.MaxAttributes, 1 << 40},
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

// Option configures a Store in New. A nil Option is ignored.
type Option func(*Store) error

// WithNamespace sets the prefix of every key the Store writes, so several
// applications or environments can share one Redis. Default "attrcache".
// A namespace is 1 to 64 printable characters without '{' or '}' (hash
// tags would pin every session to one Redis Cluster slot).
func WithNamespace(ns string) Option {
	return func(s *Store) error {
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
	}
}

// WithCipher sets the Cipher that seals values written with
// WithEncryption and opens them on read.
func WithCipher(c Cipher) Option {
	return func(s *Store) error {
		if c == nil {
			return invalidf("cipher is nil")
		}
		s.cipher = c
		return nil
	}
}

// WithLogger sets the logger. Every call logs at debug level its
// operation, attribute names or count, duration, outcome and a short
// digest of the session id; never a value or a session id. Default: no
// logging.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) error {
		if l == nil {
			return invalidf("logger is nil")
		}
		s.log = l
		return nil
	}
}

// WithLimits sets the limits; zero fields keep their defaults.
func WithLimits(l Limits) Option {
	return func(s *Store) error {
		if err := l.validate(); err != nil {
			return err
		}
		s.limits = l.withDefaults()
		return nil
	}
}

// WithReplicaWait makes every write wait until at least replicas replicas
// of the session's master have it (Redis WAIT, sent in the same pipeline,
// so still one round trip), for at most timeout. A write that the master
// applied but too few replicas acknowledged returns ErrNotReplicated: it
// is visible, but a failover may lose it. timeout must be positive and
// below the client's ReadTimeout (New checks it when the client's options
// are visible). Works with a single-node, Sentinel or cluster client, not
// with a Ring.
func WithReplicaWait(replicas int, timeout time.Duration) Option {
	return func(s *Store) error {
		if replicas < 1 || timeout < time.Millisecond {
			return invalidf("WithReplicaWait needs at least 1 replica and a timeout of at least 1ms")
		}
		s.wait = replicaWait{replicas: replicas, timeout: timeout}
		return nil
	}
}

// WithResendWindow sets how long after it began a write may still be
// applied: go-redis resends a write whose reply was lost, and a copy that
// reaches Redis later than this (or later than its context's deadline,
// if that comes first, but never less than a second) is not run. New
// derives the window from the client's retries and timeouts ((MaxRetries
// + 1) × ReadTimeout + MaxRetries × MaxRetryBackoff, at most 25 s: 23 s
// with go-redis's defaults, 15 s with package config's), or 25 s when it
// cannot see them. d must be between 1 s and 25 s: the resend log keeps
// entries 30 s.
func WithResendWindow(d time.Duration) Option {
	return func(s *Store) error {
		if d < minResendWindow || d > maxResendWindow {
			return invalidf(fmt.Sprintf("resend window must be between %v and %v", minResendWindow, maxResendWindow))
		}
		s.window = d
		return nil
	}
}

// WriteOption refines one write: a call's defaults, or one Attr of a
// batch. A nil WriteOption is ignored.
type WriteOption func(*writeSpec)

// applyWrite returns base refined by opts.
func applyWrite(base writeSpec, opts []WriteOption) writeSpec {
	for _, o := range opts {
		if o != nil {
			o(&base)
		}
	}
	return base
}

type writeSpec struct {
	expire      time.Duration // > 0 set, 0 not given
	noExpire    bool          // explicit "lives as long as the session"
	encrypt     bool
	badDuration bool // a non-positive or absurd duration was given
}

// WithExpiration makes the attribute expire d after the call (Redis's
// clock), clamped to the session's remaining lifetime. d must be at least
// a millisecond and at most MaxExpiration, or the call fails with
// ErrInvalid. Without it, Create makes an attribute that lives as long as
// the session, and Set and Update keep the attribute's current expiry.
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
// WithEncryption for one Attr.
func WithoutEncryption() WriteOption { return func(w *writeSpec) { w.encrypt = false } }

// ReadOption refines a read. A nil ReadOption is ignored.
type ReadOption func(*readSpec)

type readSpec struct {
	raw     bool
	partial bool
}

func readOptions(opts []ReadOption) readSpec {
	var r readSpec
	for _, o := range opts {
		if o != nil {
			o(&r)
		}
	}
	return r
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
	bad         bool
}

// WithMaxLifetime gives the session an absolute lifetime: d after Start,
// it ends whatever the renewals. Renew never takes the session's expiry
// past it, and says so in the expiry it returns. d must be between 1 ms
// and MaxExpiration; a ttl longer than d is cut to d.
func WithMaxLifetime(d time.Duration) StartOption {
	return func(s *startSpec) {
		s.maxLifetime = d
		s.bad = !validDuration(d)
	}
}

// MaxExpiration is the longest expiration or session lifetime accepted:
// longer ones are ErrInvalid.
const MaxExpiration = 100 * 365 * 24 * time.Hour

func validDuration(d time.Duration) bool {
	return d >= time.Millisecond && d <= MaxExpiration
}

// MaxSessionIDBytes is the longest session id Start and Store.Session
// accept. Ids from NewSessionID are 43 bytes.
const MaxSessionIDBytes = 512
