package attrcache

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error returned by this package either is one of
// these or wraps one, so callers test with errors.Is and never match
// strings. Error texts name attributes (names may be logged) but never
// values or session ids.
//
// A write that fails with ErrUnavailable or ErrNotReplicated may have
// been applied; after any other error, nothing was written.
var (
	// ErrSessionNotFound is returned by every call on a session that was
	// never started, has ended or has expired. Nothing is written.
	ErrSessionNotFound = errors.New("attrcache: session not found")

	// ErrSessionExists is returned by Start when a live session already
	// holds the id.
	ErrSessionExists = errors.New("attrcache: session already exists")

	// ErrExists is returned by Create and CreateMany when a live attribute
	// already has one of the names. A *NamesError names every conflict.
	ErrExists = errors.New("attrcache: attribute already exists")

	// ErrNotFound is returned by Get when the attribute is absent or
	// expired, and by Update, UpdateMany, SetExpiry and SetExpiryMany when
	// any of the named attributes is. A *NamesError names the missing ones.
	ErrNotFound = errors.New("attrcache: attribute not found")

	// ErrInvalid reports bad input: a name, value, duration, batch or
	// option the call cannot accept. Nothing is written.
	ErrInvalid = errors.New("attrcache: invalid argument")

	// ErrTooManyAttributes is returned when a write would leave the
	// session with more attributes than Limits.MaxAttributes. Nothing is
	// written.
	ErrTooManyAttributes = errors.New("attrcache: too many attributes in session")

	// ErrTooBig is returned when a write would leave the session holding
	// more bytes than Limits.MaxSessionBytes. Nothing is written. (A
	// single call over MaxCallBytes is ErrInvalid: it is refused before
	// it is sent.)
	ErrTooBig = errors.New("attrcache: session would hold too many bytes")

	// ErrUnavailable wraps every error that comes from Redis, the network
	// or the context rather than from attrcache's rules: a refused
	// connection, a timeout, a cancelled context, an error reply. The
	// cause is wrapped too, so errors.Is(err, context.Canceled) works.
	// A write that fails with it may have been applied.
	ErrUnavailable = errors.New("attrcache: redis call failed")

	// ErrNoCipher is returned when encryption is asked for, or an
	// encrypted value must be decrypted, and the Store has no Cipher.
	ErrNoCipher = errors.New("attrcache: encryption requested but no cipher configured")

	// ErrDecrypt is returned when a stored ciphertext does not open: it
	// was tampered with, moved to another attribute or session, or sealed
	// under a key the cipher no longer accepts. A *NamesError names the
	// attributes.
	ErrDecrypt = errors.New("attrcache: value does not decrypt")

	// ErrNotReplicated is returned, with WithReplicaWait, by a write that
	// the master applied but fewer replicas than asked acknowledged in
	// time: the write is visible now but a failover may lose it.
	ErrNotReplicated = errors.New("attrcache: write not acknowledged by enough replicas")

	// ErrCorrupt is returned when bytes in Redis are not a record this
	// package wrote (truncated, unknown version, wrong key type). End
	// clears a corrupt session; Purge deletes its key whatever it holds.
	ErrCorrupt = errors.New("attrcache: corrupt data in redis")
)

// NamesError is the error of a call refused because of particular
// attributes: the conflicting names of a Create, the missing names of an
// Update, the corrupt records met by any call. It unwraps to its sentinel
// (ErrExists, ErrNotFound, ErrCorrupt, ...), so errors.Is works on it, and
// errors.As gives the names.
type NamesError struct {
	Err   error    // the sentinel
	Names []string // the attributes concerned, in the order of the call
}

// Error lists the sentinel's text and the names.
func (e *NamesError) Error() string {
	return e.Err.Error() + ": " + strings.Join(e.Names, ", ")
}

// Unwrap returns the sentinel.
func (e *NamesError) Unwrap() error { return e.Err }

// invalidError is ErrInvalid with the reason; it is kept unexported so the
// only contract is errors.Is(err, ErrInvalid).
type invalidError struct{ reason string }

func (e *invalidError) Error() string { return "attrcache: invalid argument: " + e.reason }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(reason string) error { return &invalidError{reason: reason} }
