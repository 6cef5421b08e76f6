package attrcache

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
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

	// ErrTooManySessions is returned by Start WithUser when the user has
	// the most sessions WithMaxSessions allows and its policy is
	// RefuseNew. Nothing is written.
	ErrTooManySessions = errors.New("attrcache: too many sessions for the user")

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

	why   string // what is wrong, when the sentinel does not say
	cause error  // the reason from below (a cipher's), when there is one
}

// Error lists the sentinel's text, the names and the reason.
func (e *NamesError) Error() string {
	s := e.Err.Error() + ": " + strings.Join(e.Names, ", ")
	if e.why != "" {
		s += " (" + e.why + ")"
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the sentinel.
func (e *NamesError) Unwrap() error { return e.Err }

// Is reports the sentinel, and what the reason from below is (a key the
// cipher found disabled, say).
func (e *NamesError) Is(target error) bool {
	return target == e.Err || (e.cause != nil && errors.Is(e.cause, target))
}

// As finds target in the reason from below.
func (e *NamesError) As(target any) bool { return e.cause != nil && errors.As(e.cause, target) }

// invalidError is ErrInvalid with the reason; it is kept unexported so the
// only contract is errors.Is(err, ErrInvalid).
type invalidError struct{ reason string }

func (e *invalidError) Error() string { return "attrcache: invalid argument: " + e.reason }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(reason string) error { return &invalidError{reason: reason} }

// notReplicatedError is ErrNotReplicated with what WAIT said.
type notReplicatedError struct{ msg string }

func (e *notReplicatedError) Error() string { return ErrNotReplicated.Error() + ": " + e.msg }
func (e *notReplicatedError) Unwrap() error { return ErrNotReplicated }

// corruptf is ErrCorrupt with a reason.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// isReplyShape reports a reply of a shape the scripts never send.
func isReplyShape(err error) bool { return errors.Is(err, backend.ErrReply) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// statusError turns a script's status into the call's error: nil for
// one that did its work. Names in the payload go to the sentinels that
// carry names.
func (o *owner) statusError(rep backend.Reply) error {
	switch rep.Code {
	case format.StatusOK, format.StatusResent:
		return nil
	case format.StatusNoSession:
		return ErrSessionNotFound
	case format.StatusSessionExists:
		return ErrSessionExists
	case format.StatusExists:
		return &NamesError{Err: ErrExists, Names: rep.Strings(0)}
	case format.StatusNotFound:
		return &NamesError{Err: ErrNotFound, Names: rep.Strings(0)}
	case format.StatusNotInt:
		return &NamesError{Err: ErrInvalid, Names: rep.Strings(0), why: "not an integer counter, or past 2^53-1"}
	case format.StatusCorrupt:
		if rep.Len() == 0 {
			return corruptf("the key holds something attrcache did not write")
		}
		return &NamesError{Err: ErrCorrupt, Names: rep.Strings(0)}
	case format.StatusTooMany:
		return ErrTooManyAttributes
	case format.StatusTooBig:
		return ErrTooBig
	case format.StatusTooManySessions:
		return ErrTooManySessions
	case format.StatusLate:
		return &unavailableError{cause: fmt.Errorf("the call reached Redis after its deadline and was not run: %w", context.DeadlineExceeded)}
	case format.StatusClock:
		return &unavailableError{cause: errors.New("the call was not run: its start or deadline, from this process's estimate of Redis's clock, " +
			"was ahead of Redis's clock (the estimate is corrected from the reply)")}
	case format.StatusNeedKeys:
		return &unavailableError{cause: errors.New("the user's sessions kept changing while the call named them; nothing was changed")}
	case format.StatusReseal, format.StatusChanged:
		return &unavailableError{cause: errors.New("the attributes kept changing while sealed values were sealed again; nothing was written")}
	}
	return corruptf("unknown script status %d", rep.Code)
}
