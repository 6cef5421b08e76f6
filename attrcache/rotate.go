package attrcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// rotationGrace is how long, at most, a rotated session's attributes stay
// readable under its old id when Rotate is cut short (a crash, Redis
// unreachable) after the new session holds them (10 s, as Rotate's
// documentation says). Writes to the old id are refused from the moment
// Rotate begins.
const rotationGrace = 10 * time.Second

// Rotate moves the session to a new id, newSid, and ends the old id: the
// defence against session fixation, for every change of privilege (a
// login, a step-up). Every live attribute moves with its value,
// encryption, times and own expiry; sealed values are opened and sealed
// again under the new id. The new session keeps the old one's deadline
// and absolute lifetime. A session bound to a user needs a newSid from
// the same user's User.NewSessionID (or Session.NewID), and moves within
// the user's registry.
//
// It freezes the old session (still readable, no longer writable), reads
// it, and then, for a bound session, creates the new session and ends
// the old one in one script; for an unbound one (the two ids sit in
// different hash slots) it creates the new session unreadable, ends the
// old id only if nothing else ended it meanwhile, and then makes the new
// one live. So logout always wins: if the old id was ended while it
// moved (End, a Logout, a Login on the same browser, User.EndSessions),
// Rotate fails with ErrSessionNotFound and the new id holds nothing. And
// End with the old id after the move ends the new one (see End).
//
// It fails closed:
//
//   - Until the new session exists, a failure thaws the old one, which
//     goes on as if nothing happened, and Rotate returns the error
//     (ErrSessionExists when newSid is taken, ErrCorrupt or ErrDecrypt
//     naming records that cannot be moved, ErrNoCipher).
//   - When Rotate cannot tell whether the new session was made (Redis
//     unreachable), it ends both ids, as far as it can, and returns an
//     ErrUnavailable error: the user must log in again.
//   - Once the old id is ended, Rotate succeeds; if making the new
//     session live then fails, it returns the error and the new id stays
//     unreadable: the user must log in again.
//   - When Rotate is cut short after the old id was frozen, the old id
//     reads as ended 10 s later at most.
//
// So no attribute is ever readable under both ids for longer than 10 s,
// and none is lost while Rotate reports success.
func (s *Session) Rotate(ctx context.Context, newSid string) (*Session, error) {
	c := call{op: opRotate}
	ctx, cancel := s.begin(ctx, &c)
	defer cancel()
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

// NewID returns a fresh session id for Rotate: NewSessionID's, or, for a
// session bound to a user, one that carries the user's tag as
// User.NewSessionID's do.
func (s *Session) NewID() string {
	if s.tag == "" {
		return NewSessionID()
	}
	return NewSessionID() + "." + s.tag
}

func (s *Session) rotate(ctx context.Context, c *call, newSid string) (*Session, error) {
	if s.bad != nil {
		return nil, s.bad
	}
	st := s.store
	ns := st.Session(newSid)
	switch {
	case ns.bad != nil:
		return nil, ns.bad
	case ns.keys[0] == s.keys[0]:
		return nil, invalidf("the new session id is the old one")
	case ns.tag != s.tag && s.tag != "":
		return nil, invalidf("a session bound to a user moves to an id from the same user's User.NewSessionID (or Session.NewID)")
	case ns.tag != s.tag:
		return nil, invalidf("the new session id carries a user's tag, and the session is bound to none")
	}

	// Freeze: from here on, writes to the old id are refused.
	rep, err := st.run(ctx, c, sessionScript, s.scriptKeys(), nil, []any{nil, opFreeze, rotationGrace.Milliseconds(), s.digest})
	if err != nil {
		if c.last != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotReplicated)) {
			// The freeze may have applied with its reply lost: undo it,
			// or the session would read as ended after the grace.
			return nil, s.thaw(ctx, c, c.last.token(), err)
		}
		return nil, err
	}
	if err := s.statusError(rep); err != nil {
		return nil, err
	}
	rottok := c.last.token() // a resent freeze is this one: the token is the rotation's

	records, err := s.snapshot(ctx, ns)
	if err != nil {
		return nil, s.thaw(ctx, c, rottok, err)
	}
	if s.tag != "" {
		return s.move(ctx, c, ns, rottok, records)
	}
	return s.moveAcross(ctx, c, ns, rottok, records)
}

// move is a bound session's rotation: the new session is made, the old
// one ended and the registry changed in one script, in the user's slot.
func (s *Session) move(ctx context.Context, c *call, ns *Session, rottok string, records []any) (*Session, error) {
	st := s.store
	keys := s.scriptKeys()
	keys.Names = append(keys.Names, ns.keys[0])
	args := append([]any{nil, opMove, rottok, s.digest, ns.digest}, records...)
	rep, err := st.run(ctx, c, sessionScript, keys, nil, args)
	switch {
	case err != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotReplicated)):
		return nil, s.endBoth(ctx, c, ns, err)
	case err != nil:
		return nil, s.thaw(ctx, c, rottok, err)
	case rep.Code == format.StatusNoSession:
		return nil, ErrSessionNotFound // ended while it moved: logout wins
	case !format.Applied(rep.Code):
		return nil, s.thaw(ctx, c, rottok, s.statusError(rep))
	}
	if dl, ok := rep.Int(0); ok {
		ns.seen.Store(dl)
	}
	return ns, nil
}

// moveAcross is an unbound session's rotation, across hash slots: commit
// the new session unreadable, retire the old id if the rotation still
// holds it, then activate the new one.
func (s *Session) moveAcross(ctx context.Context, c *call, ns *Session, rottok string, records []any) (*Session, error) {
	st := s.store
	m := records[0].(format.Marker)
	args := append([]any{nil, opCommit, m.Created, m.Deadline, m.Most, rotationGrace.Milliseconds()}, records[1:]...)
	rep, err := st.run(ctx, c, sessionScript, ns.scriptKeys(), nil, args)
	switch {
	case err != nil && (errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotReplicated)):
		return nil, s.endBoth(ctx, c, ns, err)
	case err != nil:
		return nil, s.thaw(ctx, c, rottok, err)
	case rep.Code == format.StatusNoSession:
		// The session reached its deadline while it was being moved.
		cleanup, cancel := cleanupContext(ctx)
		defer cancel()
		_ = s.end(cleanup, c)
		return nil, ErrSessionNotFound
	case !format.Applied(rep.Code):
		return nil, s.thaw(ctx, c, rottok, s.statusError(rep))
	}

	// Retire the old id, unless something ended it meanwhile: then the
	// new one must not live either.
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	rep, err = st.run(cleanup, c, sessionScript, s.scriptKeys(), nil, []any{nil, opRetire, rottok, ns.digest})
	if err == nil && rep.Code == format.StatusNoSession {
		_ = ns.end(cleanup, c)
		return nil, ErrSessionNotFound
	}
	if err == nil {
		err = s.statusError(rep)
	}
	if err != nil {
		return nil, s.endBoth(ctx, c, ns, err)
	}

	rep, err = st.run(cleanup, c, sessionScript, ns.scriptKeys(), nil, []any{nil, opActivate})
	if err == nil {
		err = ns.statusError(rep)
	}
	if err != nil {
		st.log.LogAttrs(ctx, slog.LevelWarn, "attrcache: a rotated session could not be made live; the user must log in again",
			slog.String("session", s.logID), slog.String("new_session", ns.logID), slog.String("error", err.Error()))
		_ = ns.end(cleanup, c)
		return nil, err
	}
	if dl, ok := rep.Int(0); ok {
		ns.seen.Store(dl)
	}
	return ns, nil
}

// endBoth ends both ids after a failure that leaves Rotate unsure of
// what Redis did, and returns cause with what the ends met.
func (s *Session) endBoth(ctx context.Context, c *call, ns *Session, cause error) error {
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	errs := []error{cause}
	if e := ns.end(cleanup, c); e != nil && !errors.Is(e, ErrSessionNotFound) {
		errs = append(errs, fmt.Errorf("ending the new id: %w", e))
	}
	if e := s.end(cleanup, c); e != nil && !errors.Is(e, ErrSessionNotFound) {
		errs = append(errs, fmt.Errorf("ending the old id: %w", e))
	}
	return errors.Join(errs...)
}

// snapshot reads the frozen session and returns its marker, then every
// live attribute as a name and a record for ns: plain records as stored
// (the new session keeps the old one's times, so the records' offsets
// hold), sealed ones opened and sealed again for ns.
func (s *Session) snapshot(ctx context.Context, ns *Session) ([]any, error) {
	all, v, err := s.hgetall(ctx)
	if err != nil {
		return nil, err
	}
	if v.m.Kind != format.Frozen {
		return nil, ErrSessionNotFound
	}
	names := make([]string, 0, len(all))
	for name := range all {
		if !internalField(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := make([]any, 1, 1+2*len(names))
	out[0] = v.m
	var bad badRecords
	var oldAD, newAD []byte
	for _, name := range names {
		raw := all[name]
		rec, found, err := v.record(name, backend.Field{S: raw, OK: true})
		if err != nil {
			bad.add(name, err)
			continue
		}
		if !found {
			continue
		}
		if rec.Sealed {
			ciph := s.store.cipher
			if ciph == nil {
				return nil, &NamesError{Err: ErrNoCipher, Names: []string{name}}
			}
			oldAD, newAD = s.ad(oldAD[:0], name, rec.Expires), ns.ad(newAD[:0], name, rec.Expires)
			pt, err := ciph.Decrypt([]byte(rec.Value), oldAD)
			if err != nil {
				bad.add(name, &openError{cause: err})
				continue
			}
			ct, err := ciph.Encrypt(pt, newAD)
			if err != nil {
				return nil, unavailable(&sealError{name: name, cause: err})
			}
			out = append(out, name, &bytesArg{format.AppendRecord(nil, rec, v.m.Created, ct)})
			continue
		}
		if s.sealedName(name) {
			bad.add(name, &openError{cause: errNotSealed})
			continue
		}
		out = append(out, name, &recordArg{raw})
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	if s.tag != "" {
		return out[1:], nil
	}
	return out, nil
}

// thaw undoes the freeze after a failed rotation and returns cause.
func (s *Session) thaw(ctx context.Context, c *call, rottok string, cause error) error {
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	rep, err := s.store.run(cleanup, c, sessionScript, s.scriptKeys(), nil, []any{nil, opThaw, rottok, s.digest})
	if err == nil {
		err = s.statusError(rep)
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
