package attrcache

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// User is a handle on one user: attributes shared by all of the user's
// sessions (the same API and semantics as a Session's: Create, Set, Get,
// Incr, ...; they live until deleted or until their own expiry), and the
// user's sessions (Sessions, EndSessions, Purge). Store.User makes one;
// it does no I/O and holds a digest of the user id, never the id.
//
// A user's attributes, its registry of sessions and its sessions share a
// Redis Cluster hash slot, so that starting, rotating and ending a
// session, its registry entry and the cap on sessions change together in
// one script: the registry never misses a live session and never lists
// a dead one for longer than until the user's next call (see
// internal/format for the key layout).
type User struct {
	owner
	tag string
}

// NewSessionID returns a new session id for a session of this user
// (Store.Start with WithUser): NewSessionID's 43 characters, a dot, and
// the user's 16-character tag, which places the session in the user's
// hash slot. The tag is a digest of the user id; it tells nothing of the
// id.
func (u *User) NewSessionID() string { return NewSessionID() + "." + u.tag }

// SessionRef is one live session of a user, as User.Sessions lists it.
type SessionRef struct {
	// Created is when the session started; Expires its deadline (Redis's
	// clock).
	Created, Expires time.Time
	// Session is a handle on the session, to read its attributes (a
	// device name the application stored, say) or end it (Session.End).
	// Its ID is the short digest logs show.
	Session *Session
}

// Sessions returns the user's live sessions, oldest first, from one read
// of the user's registry. It never lists a session that has ended,
// expired or been moved by Rotate.
func (u *User) Sessions(ctx context.Context) ([]SessionRef, error) {
	c := call{op: opSessions}
	ctx, cancel := u.begin(ctx, &c)
	defer cancel()
	refs, err := u.sessions(ctx)
	c.count = len(refs)
	return refs, u.finish(ctx, &c, err)
}

func (u *User) sessions(ctx context.Context) ([]SessionRef, error) {
	if u.bad != nil {
		return nil, u.bad
	}
	st := u.store
	now, err := st.upper(ctx, u.registry())
	if err != nil {
		return nil, err
	}
	all, err := st.be.HGetAll(ctx, u.registry())
	if err != nil {
		return nil, u.readError(err)
	}
	if m, ok := all[format.MarkerField]; ok {
		if mk, err := format.ParseMarker(m); err != nil || mk.Kind != format.Registry {
			return nil, corruptf("the user's registry holds something attrcache did not write")
		}
	} else if len(all) > 0 {
		return nil, corruptf("the user's registry has no marker")
	}
	refs := make([]SessionRef, 0, len(all))
	for d, v := range all {
		if internalField(d) {
			continue
		}
		created, deadline, ok := format.ParseEntry(v)
		if !ok || len(d) != format.DigestLen {
			return nil, corruptf("the user's registry holds an entry attrcache did not write")
		}
		if deadline <= now {
			continue
		}
		refs = append(refs, SessionRef{
			Created: time.UnixMilli(created),
			Expires: time.UnixMilli(deadline),
			Session: st.sessionHandle(u.tag, d),
		})
	}
	slices.SortFunc(refs, func(a, b SessionRef) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Session.digest, b.Session.digest)
	})
	return refs, nil
}

// EndSessions ends every live session of the user except the given ones
// (the current session, for "log out everywhere else"), and returns how
// many it ended. Every session started before the call began is ended
// by one script, in Redis; a login that races the call is either ended
// or was started after the call began, and is then left alone (so a
// stream of logins cannot starve it). A resent call (its reply was lost)
// returns the first run's count. Sessions of other users given in except
// are ignored.
func (u *User) EndSessions(ctx context.Context, except ...*Session) (int, error) {
	c := call{op: opEndSessions}
	ctx, cancel := u.begin(ctx, &c)
	defer cancel()
	n, err := u.endAll(ctx, &c, false, except)
	return n, u.finish(ctx, &c, err)
}

// Purge ends every session of the user and deletes every attribute of
// the user, and the user's registry, in one script. It names every live
// session, logins included: under logins faster than a round trip it
// can fail with ErrUnavailable, having changed nothing.
func (u *User) Purge(ctx context.Context) error {
	c := call{op: opPurgeUser}
	ctx, cancel := u.begin(ctx, &c)
	defer cancel()
	_, err := u.endAll(ctx, &c, true, nil)
	return u.finish(ctx, &c, err)
}

// endAll runs the registry's endall op: it names every session key the
// script touches, so it reads the registry first and runs again when a
// session was started in between (NEEDKEYS).
func (u *User) endAll(ctx context.Context, c *call, purge bool, except []*Session) (int, error) {
	if u.bad != nil {
		return 0, u.bad
	}
	st := u.store
	var keep []string
	for _, s := range except {
		if s != nil && s.tag == u.tag && s.bad == nil {
			keep = append(keep, s.digest)
		}
	}
	refs, err := u.sessions(ctx)
	if err != nil {
		return 0, err
	}
	named := make([]string, 0, len(refs))
	for _, r := range refs {
		if !slices.Contains(keep, r.Session.digest) {
			named = append(named, r.Session.digest)
		}
	}
	purgeArg := "0"
	if purge {
		purgeArg = "1"
	}
	var cutoff int64 // the first run's time, once it asked for more keys
	for try := 0; ; try++ {
		keys := backend.Keys{Names: []string{u.registry(), u.keys[1], u.keys[0]}}
		args := []any{nil, opEndAll, purgeArg, cutoff, len(keep)}
		for _, d := range keep {
			args = append(args, d)
		}
		for _, d := range named {
			keys.Names = append(keys.Names, format.SessionKeys(st.ns, u.tag, d).Hash)
			args = append(args, d)
		}
		rep, err := st.run(ctx, c, sessionScript, keys, nil, args)
		if err != nil {
			return 0, err
		}
		if rep.Code == format.StatusNeedKeys && try < needKeysTries {
			if cutoff == 0 {
				cutoff = rep.Now
			}
			for _, d := range rep.Strings(0) {
				if !slices.Contains(named, d) {
					named = append(named, d)
				}
			}
			continue
		}
		if err := u.statusError(rep); err != nil {
			return 0, err
		}
		n, _ := rep.Int(0)
		return int(n), nil
	}
}
