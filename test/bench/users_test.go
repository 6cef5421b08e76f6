package bench

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/attrcache/attrcache/attrcache"
)

// perUser is how many sessions each user of the user benchmarks has.
const perUser = 10

// userID returns the id of the k-th user of a benchmark.
func userID(prefix string, k int) string { return prefix + "-user-" + strconv.Itoa(k) }

// startBound starts a session of user uid, bound to it (WithUser).
func startBound(st *attrcache.Store, uid string) (*attrcache.Session, error) {
	sess, err := st.Start(ctx, st.User(uid).NewSessionID(), sessionTTL, attrcache.WithUser(uid))
	if err != nil {
		return nil, fmt.Errorf("Start WithUser: %w", err)
	}
	return sess, nil
}

// bound is a maker of sessions bound to users (Start WithUser), perUser
// sessions a user, given attrs in one CreateMany.
func (e *env) bound(attrs []attrcache.Attr) maker {
	prefix := "pool" + strconv.FormatInt(e.seq.Add(1), 10)
	return func(i int) (*attrcache.Session, error) {
		sess, err := startBound(e.store, userID(prefix, i/perUser))
		if err != nil {
			return nil, err
		}
		if err := sess.CreateMany(ctx, attrs); err != nil {
			return nil, fmt.Errorf("CreateMany: %w", err)
		}
		return sess, nil
	}
}

// BenchmarkUsers: what binding a session to a user costs Redis.
//
//   - Get, Set, Create: a bound session's (Start WithUser, perUser
//     sessions a user) against an unbound one's, on quiet sessions of
//     sessionAttrs attributes, one per call (Get: one session each);
//   - Start: Start WithUser, of users who have 0 to perUser-1 sessions
//     (the users take turns), against Start of an unbound session;
//   - Sessions: User.Sessions of a user with perUser sessions (one
//     HGETALL of the user's registry), measured whole with the slow log
//     (see slowMeter);
//   - EndSessions: User.EndSessions of a user with perUser live
//     sessions (a read of the registry, then one script that ends them
//     all), the sessions started again outside the timer; measured
//     whole.
func BenchmarkUsers(b *testing.B) {
	e := newEnv(b)
	st, v := e.store, value(valueSize)
	// pair is a pool of n bound sessions and one of unbound sessions,
	// made beside each other.
	pair := func(b *testing.B, n int) (bound, unbound []*attrcache.Session) {
		p := e.pools(b, n, e.bound(typical()), e.unbound(st, typical()))
		return p[0], p[1]
	}
	b.Run("Get", func(b *testing.B) {
		bp, up := pair(b, 1)
		bound, unbound := bp[0], up[0]
		compare(b, e, calls,
			side{cmds: readCmds, op: func(int) error { _, err := bound.Get(ctx, target); return err }},
			side{cmds: readCmds, op: func(int) error { _, err := unbound.Get(ctx, target); return err }})
	})
	b.Run("Set", func(b *testing.B) {
		bound, unbound := pair(b, calls+1)
		compare(b, e, calls,
			side{cmds: writeCmds, op: func(i int) error { return bound[i].Set(ctx, target, v) }},
			side{cmds: writeCmds, op: func(i int) error { return unbound[i].Set(ctx, target, v) }})
	})
	b.Run("Create", func(b *testing.B) {
		bound, unbound := pair(b, calls+1)
		compare(b, e, calls,
			side{cmds: writeCmds, op: func(i int) error { return bound[i].Create(ctx, "fresh", v) }},
			side{cmds: writeCmds, op: func(i int) error { return unbound[i].Create(ctx, "fresh", v) }})
	})
	b.Run("Start", func(b *testing.B) {
		const users = (calls + 1) / perUser
		prefix := "start" + strconv.FormatInt(e.seq.Add(1), 10)
		compare(b, e, calls,
			side{cmds: writeCmds, op: func(i int) error {
				_, err := startBound(st, userID(prefix, i%users))
				return err
			}},
			side{cmds: writeCmds, op: func(int) error {
				_, err := st.Start(ctx, e.sid(), sessionTTL)
				return err
			}})
	})
	b.Run("Sessions", func(b *testing.B) {
		uid := userID("sessions", 0)
		for range perUser {
			if _, err := startBound(st, uid); err != nil {
				b.Fatal(err)
			}
		}
		u := st.User(uid)
		timed(b, e, calls, callCmds, func(int) {}, func(int) error {
			refs, err := u.Sessions(ctx)
			if err == nil && len(refs) != perUser {
				err = fmt.Errorf("Sessions listed %d sessions, want %d", len(refs), perUser)
			}
			return err
		})
	})
	b.Run("EndSessions", func(b *testing.B) {
		const n = calls / 5 // each call needs perUser Starts
		uid := userID("endsessions", 0)
		u := st.User(uid)
		timed(b, e, n, callCmds, func(int) {
			for range perUser {
				if _, err := startBound(st, uid); err != nil {
					b.Fatal(err)
				}
			}
		}, func(int) error {
			ended, err := u.EndSessions(ctx)
			if err == nil && ended != perUser {
				err = fmt.Errorf("EndSessions ended %d sessions, want %d", ended, perUser)
			}
			return err
		})
	})
}
