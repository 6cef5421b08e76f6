package attrcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// RotationGrace is how long, at most, a rotated session's attributes stay
// readable under its old id when Rotate is cut short (a crash, Redis
// unreachable) after the new session holds them. Writes to the old id are
// refused from the moment Rotate begins.
const RotationGrace = 10 * time.Second

// Rotate moves the session to a new id, newSid, and ends the old id: the
// defence against session fixation, for every change of privilege (a
// login, a step-up). Every live attribute moves with its value,
// encryption, Created, Modified and expiry; encrypted values are opened
// and sealed again under the new id. The new session keeps the old one's
// deadline and absolute lifetime.
//
// The two ids live in different slots of a cluster, so Rotate takes four
// steps: it freezes the old session (still readable, no longer
// writable), reads it, creates the new session whole in one script, and
// ends the old one. Each step is exactly-once. It fails closed:
//
//   - Until the new session exists, a failure thaws the old one, which
//     goes on as if nothing happened, and Rotate returns the error
//     (ErrSessionExists when newSid is taken, ErrCorrupt or ErrDecrypt
//     naming records that cannot be moved, ErrNoCipher).
//   - When Rotate cannot tell whether the new session was made (Redis
//     unreachable), it ends both ids, as far as it can, and returns an
//     ErrUnavailable error: the user must log in again.
//   - Once the new session exists, Rotate succeeds. If ending the old id
//     fails, the old id stays readable at most RotationGrace, then reads
//     as ended.
//
// So no attribute is ever readable under both ids for longer than
// RotationGrace, and none is lost while Rotate reports success.
func (s *Session) Rotate(ctx context.Context, newSid string) (*Session, error) {
	c := call{op: opRotate}
	ctx = s.begin(ctx, &c)
	ns, err := s.rotate(ctx, &c, newSid)
	if err == nil && c.span != nil {
		// The new id's digest, so a trace follows the user across it.
		c.span.SetAttributes(keyNewSession.String(ns.logID))
	}
	s.finish(ctx, &c, err)
	if err != nil {
		return nil, err
	}
	return ns, nil
}

func (s *Session) rotate(ctx context.Context, c *call, newSid string) (*Session, error) {
	if s.bad != nil {
		return nil, s.bad
	}
	st := s.store
	ns := st.Session(newSid)
	if ns.bad != nil {
		return nil, ns.bad
	}
	if ns.keys[0] == s.keys[0] {
		return nil, invalidf("the new session id is the old one")
	}

	// Freeze: from here on, writes to the old id are refused.
	rep, err := s.runScript(ctx, c, sessionScript, opFreeze, []any{4: RotationGrace.Milliseconds()})
	if err != nil {
		return nil, err
	}
	if err := rep.err(); err != nil {
		return nil, err
	}
	args, err := s.snapshot(ctx, ns)
	if err != nil {
		return nil, s.thaw(ctx, c, err)
	}

	rep, err = ns.runScript(ctx, c, sessionScript, opCommit, args)
	switch {
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotReplicated):
		// The new session may or may not exist: end both ids.
		cleanup, cancel := cleanupContext(ctx)
		defer cancel()
		errs := []error{err}
		if e := ns.end(cleanup, c); e != nil && !errors.Is(e, ErrSessionNotFound) {
			errs = append(errs, fmt.Errorf("ending the new id: %w", e))
		}
		if e := s.end(cleanup, c); e != nil && !errors.Is(e, ErrSessionNotFound) {
			errs = append(errs, fmt.Errorf("ending the old id: %w", e))
		}
		return nil, errors.Join(errs...)
	case err != nil:
		return nil, s.thaw(ctx, c, err)
	case rep.code == stNoSession:
		// The session reached its deadline while it was being moved.
		cleanup, cancel := cleanupContext(ctx)
		defer cancel()
		_ = s.end(cleanup, c)
		return nil, ErrSessionNotFound
	case !rep.ok():
		return nil, s.thaw(ctx, c, rep.err())
	}

	// The new session holds everything: end the old id. If that fails, the
	// frozen old id reads as ended once its rotation deadline passes.
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	if err := s.end(cleanup, c); err != nil && !errors.Is(err, ErrSessionNotFound) {
		st.log.LogAttrs(ctx, slog.LevelWarn, "attrcache: ending the old id of a rotated session failed; it reads as ended after the grace",
			slog.String("session", s.logID), slog.String("new_session", ns.logID), slog.String("error", err.Error()))
	}
	return ns, nil
}

// snapshot reads the frozen session and returns the commit arguments for
// ns: its times, then every live attribute as a record for ns (values
// sealed again under ns).
func (s *Session) snapshot(ctx context.Context, ns *Session) ([]any, error) {
	all, v, err := s.hgetall(ctx)
	if err != nil {
		return nil, err
	}
	if v.m.state != stateRotating {
		return nil, ErrSessionNotFound
	}
	names := make([]string, 0, len(all))
	for name := range all {
		if !internalField(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	args := make([]any, 7, 7+2*len(names))
	args[4], args[5], args[6] = v.m.created, v.m.deadline, v.m.most
	var bad badRecords
	var oldAD, newAD []byte
	for _, name := range names {
		rec, found, err := v.record(name, all[name])
		if err != nil {
			bad.add(name, err)
			continue
		}
		if !found {
			continue
		}
		if rec.expires > v.m.deadline {
			rec.expires = v.m.deadline
		}
		value := []byte(rec.value)
		if rec.encrypted() {
			c := s.store.cipher
			if c == nil {
				return nil, fmt.Errorf("%w: %q is encrypted", ErrNoCipher, name)
			}
			oldAD, newAD = s.appendAD(oldAD[:0], name), ns.appendAD(newAD[:0], name)
			pt, err := c.Decrypt(value, oldAD)
			if err != nil {
				bad.add(name, &openError{cause: err})
				continue
			}
			if value, err = c.Encrypt(pt, newAD); err != nil {
				return nil, unavailable(&sealError{name: name, cause: err})
			}
		}
		args = append(args, name, encodeRecord(rec, value))
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	return args, nil
}

// thaw undoes the freeze after a failed rotation and returns cause.
func (s *Session) thaw(ctx context.Context, c *call, cause error) error {
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	rep, err := s.runScript(cleanup, c, sessionScript, opThaw, make([]any, 4))
	if err == nil {
		err = rep.err()
	}
	if err != nil && !errors.Is(err, ErrSessionNotFound) {
		return errors.Join(cause, fmt.Errorf("thawing the old id (it reads as ended after the grace): %w", err))
	}
	return cause
}

// cleanupContext is for the steps that put things right after a failure:
// they run even when the caller's context is done, but not for ever.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}
