package attrcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// Session is a handle on one session: its attributes (the methods it
// shares with User: Create, Set, Get, Incr, ...) and its lifecycle
// (Renew, Rotate, End). It is cheap, safe for concurrent use, and holds a
// digest of the session id, never the id. Store.Start and Store.Session
// make them.
type Session struct {
	owner
	tag string // the user's tag, for a session bound to a user
}

// User returns a handle on the user the session is bound to (Start
// WithUser), ok false for an unbound session: its attributes, its
// sessions, and log out everywhere (User.EndSessions). It does no I/O,
// and reads the user from the session id's tag alone: for a handle made
// from an id a client sent (a cookie), it names the user the id claims,
// which proves nothing until a call on the session itself succeeds.
func (s *Session) User() (u *User, ok bool) {
	if s.tag == "" {
		return nil, false
	}
	u = s.store.userHandle(s.tag)
	u.bad = s.bad
	return u, true
}

// Session script operations, boxed once: converting a value to an
// interface on every call would allocate.
var (
	opStart    any = "start"
	opRenew    any = "renew"
	opEnd      any = "end"
	opFreeze   any = "freeze"
	opThaw     any = "thaw"
	opCommit   any = "commit"
	opRetire   any = "retire"
	opActivate any = "activate"
	opMove     any = "move"
	opEndAll   any = "endall"
)

// Start begins a session with id sid that lives for ttl (at least a
// millisecond, at most MaxExpiration) and holds no attributes, or those
// WithAttrs gives. sid must be 1 to MaxIDBytes bytes; NewSessionID
// makes good ones, and User.NewSessionID ones for a session WithUser. It
// returns ErrSessionExists when a live session has the id, and, for a
// session WithUser past the user's cap with RefuseNew,
// ErrTooManySessions. A resent Start (after a lost reply) reports the
// first run's success.
func (s *Store) Start(ctx context.Context, sid string, ttl time.Duration, opts ...StartOption) (*Session, error) {
	sess := s.Session(sid)
	c := call{op: opStartCall}
	ctx, cancel := sess.begin(ctx, &c)
	defer cancel()
	err := sess.start(ctx, &c, ttl, opts)
	sess.finish(ctx, &c, err)
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (s *Session) start(ctx context.Context, c *call, ttl time.Duration, opts []StartOption) error {
	st := s.store
	if s.bad != nil {
		return s.bad
	}
	if !validDuration(ttl) {
		return invalidf("session ttl must be between 1ms and MaxExpiration")
	}
	var spec startSpec
	for _, o := range opts {
		if o != nil {
			o(&spec)
		}
	}
	switch {
	case spec.bad != "":
		return invalidf(spec.bad)
	case spec.hasUser && (spec.user == "" || len(spec.user) > MaxIDBytes):
		return invalidf(fmt.Sprintf("user id must be 1 to %d bytes", MaxIDBytes))
	case spec.hasUser && s.tag != format.UserDigest(st.ns, spec.user)[:format.TagLen]:
		return invalidf("a session WithUser needs an id from that user's User.NewSessionID: the id carries the user's slot")
	case !spec.hasUser && s.tag != "":
		return invalidf("the session id carries a user's tag: start it WithUser")
	}
	var itemArgs []any
	if len(spec.attrs) > 0 {
		if err := st.checkBatch(len(spec.attrs)); err != nil {
			return err
		}
		if err := checkDuplicates(spec.attrs, func(a Attr) string { return a.Name }); err != nil {
			return err
		}
		items, err := s.items(nil, spec.attrs, nil, true)
		if err != nil {
			return err
		}
		if err := s.stamp(ctx, items); err != nil {
			return err
		}
		if itemArgs, err = s.writeArgs(c, items, modeCreate); err != nil {
			return err
		}
		itemArgs = itemArgs[1:]
	}
	policy := "o"
	if st.policy == RefuseNew {
		policy = "r"
	}
	var victims []string
	for try := 0; ; try++ {
		args := []any{nil, opStart, ttl.Milliseconds(), spec.maxLifetime.Milliseconds(), s.digest,
			st.maxSess, policy, st.limits.MaxAttributes, st.limits.MaxSessionBytes}
		keys := s.scriptKeys()
		for _, d := range victims {
			args = append(args, d)
			keys.Names = append(keys.Names, format.SessionKeys(st.ns, s.tag, d).Hash)
		}
		args = append(append(args, ""), itemArgs...)
		rep, err := st.run(ctx, c, sessionScript, keys, nil, args)
		if err != nil {
			return err
		}
		if rep.Code == format.StatusNeedKeys && try < needKeysTries {
			for _, d := range rep.Strings(0) {
				if !slices.Contains(victims, d) {
					victims = append(victims, d)
				}
			}
			continue
		}
		if format.Applied(rep.Code) {
			if dl, ok := rep.Int(0); ok && dl > 0 {
				s.seen.Store(dl)
			}
		}
		return s.statusError(rep)
	}
}

// scriptKeys are the keys every script on the session names: its hash,
// its resend overflow, and a bound session's registry.
// Appending to the result copies it.
func (s *Session) scriptKeys() backend.Keys {
	if s.registry() != "" {
		return backend.Keys{Names: s.keys[:3:3], Args: s.keyArgs[:3:3]}
	}
	return s.hashKeys()
}

// Renew makes the session live for ttl from now (Redis's clock), but not
// past its WithMaxLifetime, and returns its new expiry time: earlier than
// now + ttl when the lifetime cut it. Attributes keep their own expiry
// times: a renewal neither cuts them short nor extends them. It returns
// ErrSessionNotFound when the session has ended or expired: an expired
// session cannot be brought back. A resent Renew reports the session's
// expiry at the time of the resend.
func (s *Session) Renew(ctx context.Context, ttl time.Duration) (time.Time, error) {
	c := call{op: opRenewCall}
	ctx, cancel := s.begin(ctx, &c)
	defer cancel()
	exp, err := s.renew(ctx, &c, ttl)
	return exp, s.finish(ctx, &c, err)
}

func (s *Session) renew(ctx context.Context, c *call, ttl time.Duration) (time.Time, error) {
	if s.bad != nil {
		return time.Time{}, s.bad
	}
	if !validDuration(ttl) {
		return time.Time{}, invalidf("session ttl must be between 1ms and MaxExpiration")
	}
	rep, err := s.store.run(ctx, c, sessionScript, s.scriptKeys(), nil, []any{nil, opRenew, ttl.Milliseconds(), s.digest})
	if err != nil {
		return time.Time{}, err
	}
	if err := s.statusError(rep); err != nil {
		return time.Time{}, err
	}
	ms, _ := rep.Int(0)
	if ms == 0 { // resent, and the session has ended since
		return time.Time{}, ErrSessionNotFound
	}
	s.seen.Store(ms)
	return time.UnixMilli(ms), nil
}

// End ends the session: all its attributes are gone at once, and every
// later call on it returns ErrSessionNotFound. Ending a session that does
// not exist returns ErrSessionNotFound; a resent End reports success and
// never ends a session started on the same id after it. End also clears
// a session that attrcache cannot read (ErrCorrupt), so that the id can
// be started again.
//
// End with the id a Rotate moved away from (in the seconds the old id's
// tombstone lasts) ends the session under its new id too: a logout sent
// while another request rotated the session still logs the user out.
func (s *Session) End(ctx context.Context) error {
	c := call{op: opEndCall}
	ctx, cancel := s.begin(ctx, &c)
	defer cancel()
	err := s.end(ctx, &c)
	return s.finish(ctx, &c, err)
}

// maxMoves bounds how many rotations End follows.
const maxMoves = 4

// needKeysTries bounds how often a call on a user's sessions runs again
// because sessions were started while it named them (each run names every
// session it learnt of): logins faster than a round trip exhaust it, and
// the call is then unavailable, with nothing changed.
const needKeysTries = 16

func (s *Session) end(ctx context.Context, c *call) error {
	if s.bad != nil {
		return s.bad
	}
	cur := s
	for range maxMoves {
		rep, err := cur.store.run(ctx, c, sessionScript, cur.scriptKeys(), nil, []any{nil, opEnd, cur.digest})
		if err != nil {
			return err
		}
		if rep.Code != format.StatusMoved {
			return cur.statusError(rep)
		}
		to := rep.Strings(0)
		if len(to) != 1 || len(to[0]) != format.DigestLen {
			return corruptf("a rotated session's tombstone names no session")
		}
		cur = s.store.sessionHandle(s.tag, to[0])
	}
	return ErrSessionNotFound
}

// Purge deletes the session's key, whatever it holds: the operator's way
// out when a key holds something attrcache did not write. Unlike End it
// leaves no tombstone, so a resent End or Start that was still in flight
// is not recognised. Purging a key that does not exist is not an error.
func (s *Session) Purge(ctx context.Context) error {
	c := call{op: opPurge}
	ctx, cancel := s.begin(ctx, &c)
	defer cancel()
	err := s.bad
	if err == nil && s.registry() != "" {
		// The registry must not list what is gone: the end op drops the
		// entry first (and ends the session, so nothing reads it between
		// the two steps). A rotation's tombstone is not followed: Purge
		// is about this key only.
		var rep backend.Reply
		if rep, err = s.store.run(ctx, &c, sessionScript, s.scriptKeys(), nil, []any{nil, opEnd, s.digest}); err == nil {
			if rep.Code != format.StatusMoved && rep.Code != format.StatusCorrupt {
				if err = s.statusError(rep); errors.Is(err, ErrSessionNotFound) {
					err = nil
				}
			}
		}
	}
	if err == nil {
		err = unavailable(s.store.be.Del(ctx, s.keys[0]))
	}
	return s.finish(ctx, &c, err)
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
// renewing without a round trip of its own.
func (s *Session) Expiry() (t time.Time, ok bool) {
	ms := s.seen.Load()
	if ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// TTL returns how long the session has left to live, on the estimate of
// Redis's clock: one HMGET of its marker.
func (s *Session) TTL(ctx context.Context) (time.Duration, error) {
	c := call{op: opTTL}
	ctx, cancel := s.begin(ctx, &c)
	defer cancel()
	ttl, err := s.ttl(ctx)
	return ttl, s.finish(ctx, &c, err)
}

func (s *Session) ttl(ctx context.Context) (time.Duration, error) {
	if s.bad != nil {
		return 0, s.bad
	}
	_, v, err := s.hmget(ctx, []string{format.MarkerField})
	if err != nil {
		return 0, err
	}
	return time.Duration(v.m.Deadline-v.now) * time.Millisecond, nil
}
