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
// associated data attrcache passes is namespace, session digest and
// attribute name, each separated by a NUL byte (see Session.appendAD), so a
// ciphertext copied to another attribute or session does not open.
// Decrypt must return an error, never panic, on arbitrary input. Errors
// must not hold plaintext: attrcache wraps them into its own errors, which
// reach logs.
type Cipher interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// Limits bound what one session and one call may hold. A zero field takes
// its default. Every limit is checked before anything is written; the
// per-session attribute count is checked atomically inside the script.
type Limits struct {
	// MaxNameBytes is the longest attribute name, in bytes. Default 128.
	MaxNameBytes int
	// MaxValueBytes is the longest value, in bytes, as given by the
	// caller (before encryption). Default 1 MiB.
	MaxValueBytes int
	// MaxAttributes is the most live attributes one session may hold.
	// Default 10,000.
	MaxAttributes int
	// MaxBatch is the most attributes one *Many call may name. Default 1,000.
	MaxBatch int
}

// DefaultLimits are the limits of a Store made without WithLimits.
var DefaultLimits = Limits{
	MaxNameBytes:  128,
	MaxValueBytes: 1 << 20,
	MaxAttributes: 10_000,
	MaxBatch:      1_000,
}

// hardMaxValueBytes keeps a value, its ciphertext overhead and its header
// well below Redis's 512 MB string limit.
const hardMaxValueBytes = 256 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxNameBytes == 0 {
		l.MaxNameBytes = DefaultLimits.MaxNameBytes
	}
	if l.MaxValueBytes == 0 {
		l.MaxValueBytes = DefaultLimits.MaxValueBytes
	}
	if l.MaxAttributes == 0 {
		l.MaxAttributes = DefaultLimits.MaxAttributes
	}
	if l.MaxBatch == 0 {
		l.MaxBatch = DefaultLimits.MaxBatch
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MaxNameBytes < 0 || l.MaxValueBytes < 0 || l.MaxAttributes < 0 || l.MaxBatch < 0:
		return invalidf("limits must not be negative")
	case l.MaxValueBytes > hardMaxValueBytes:
		return invalidf(fmt.Sprintf("MaxValueBytes %d is over %d", l.MaxValueBytes, hardMaxValueBytes))
	case l.MaxNameBytes > 64<<10:
		return invalidf(fmt.Sprintf("MaxNameBytes %d is over %d", l.MaxNameBytes, 64<<10))
	}
	return nil
}

// Option configures a Store in New.
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
		s.maxAttrs = s.limits.MaxAttributes
		return nil
	}
}

// WithReplicaWait makes every write wait until at least replicas replicas
// of the session's master have it (Redis WAIT, sent in the same pipeline,
// so still one round trip), for at most timeout. A write that the master
// applied but too few replicas acknowledged returns ErrNotReplicated: it
// is visible, but a failover may lose it. timeout must be positive and
// below the client's ReadTimeout. Works with a single-node, Sentinel or
// cluster client, not with a Ring.
func WithReplicaWait(replicas int, timeout time.Duration) Option {
	return func(s *Store) error {
		if replicas < 1 || timeout < time.Millisecond {
			return invalidf("WithReplicaWait needs at least 1 replica and a timeout of at least 1ms")
		}
		s.wait = replicaWait{replicas: replicas, timeout: timeout}
		return nil
	}
}

// WriteOption refines one write: a call's defaults, or one Attr of a batch.
type WriteOption func(*writeSpec)

// applyWrite returns base refined by opts.
func applyWrite(base writeSpec, opts []WriteOption) writeSpec {
	for _, o := range opts {
		o(&base)
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

// ReadOption refines a read.
type ReadOption func(*readSpec)

type readSpec struct{ raw bool }

// WithoutDecryption returns encrypted values as stored (the ciphertext)
// instead of opening them; Entry.Encrypted tells which values those are.
// It needs no Cipher.
func WithoutDecryption() ReadOption { return func(r *readSpec) { r.raw = true } }

// MaxExpiration is the longest expiration or session lifetime accepted:
// longer ones are ErrInvalid.
const MaxExpiration = 100 * 365 * 24 * time.Hour

func validDuration(d time.Duration) bool {
	return d >= time.Millisecond && d <= MaxExpiration
}
