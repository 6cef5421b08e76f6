package bench

import (
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/suite"
)

// A full session at the default limits: MaxAttributes (1,000) attributes
// whose names ("attr-0042", 9 bytes) and records stay under
// MaxSessionBytes (512 KiB, 524,288 bytes) whatever their headers hold:
// a record header is at most 13 bytes while times are within 49 days of
// the session's start (format 4: flags, and 4 bytes each for the
// created, modified and expiry offsets). So 1,000 x (9 + 13 + 496) =
// 518,000 bytes in clear, and 1,000 x (9 + 13 + 460 + 33) = 515,000
// sealed (Tink's AES-GCM adds 33 bytes). One CreateMany of either fits
// MaxCallBytes (512 KiB): 505,000 and 502,000 bytes of names and values
// (sealed: with 33 bytes each for sealing).
const (
	fullAttrs      = 1000
	fullValueSize  = 496
	fullSealedSize = 460
)

// worstCalls is how many calls each worst-call case measures.
const worstCalls = 30

// BenchmarkWorstCall: the heaviest calls the default limits allow, on
// full sessions, each measured whole (every command it sends, from the
// slow log: server-µs/op is the mean of the calls' server time,
// max-call-server-µs the most one call took, max-server-µs the longest
// single command, the time Redis was blocked at once), worstCalls calls
// each, every call on a session made full again outside the timer when
// the call changed it:
//
//   - CreateMany: 1,000 attributes into an empty session;
//   - SetMany: all 1,000 attributes of a full session replaced;
//   - UpdateMany-sealed: all 1,000 sealed attributes of a full sealed
//     session replaced by new sealed values (records without an expiry
//     of their own: one script);
//   - UpdateMany-sealed-expiring: the same when the records have an
//     expiry of their own, which an update keeps: the script answers
//     RESEAL, the values are sealed again with the expiry bound in, and
//     the script runs again;
//   - SetExpiryMany-sealed: a new expiry for all 1,000 sealed records:
//     the script answers RESEAL, the records are read (HMGET), opened,
//     sealed again for the new expiry in Go and written back (a replace
//     script that checks every record is still the one read);
//   - Rotate: a full unbound session moved to a new id (freeze, HGETALL,
//     commit, retire, activate);
//   - Rotate-bound: a full session bound to a user moved to a new id of
//     the user (freeze, HGETALL, move);
//   - DeleteMany: all 1,000 attributes deleted;
//   - reclaim-step: a Set of one small attribute of a session whose
//     1,000 records have expired, which runs one bounded reclaim step.
func BenchmarkWorstCall(b *testing.B) {
	e := newEnv(b)
	st := e.store
	sealed := newStore(b, e.rdb, attrcache.WithCipher(suite.TinkCipher(b)))
	ns := names(fullAttrs)
	plain := attrs(ns, value(fullValueSize))
	seal := attrs(ns, value(fullSealedSize))
	enc := attrcache.WithEncryption()
	full := func(b *testing.B, st *attrcache.Store, batch []attrcache.Attr, opts ...attrcache.WriteOption) *attrcache.Session {
		return e.session(b, st, batch, opts...)
	}
	// fresh returns a prep that gives every call a new session from make.
	fresh := func(sessions []*attrcache.Session, make func() *attrcache.Session) func(int) {
		return func(i int) { sessions[i] = make() }
	}
	run := func(b *testing.B, prep func(int), op func(int) error) {
		timed(b, e, worstCalls, callCmds, prep, op)
	}
	sessions := func() []*attrcache.Session { return make([]*attrcache.Session, worstCalls+1) }

	b.Run("CreateMany", func(b *testing.B) {
		s := sessions()
		run(b, fresh(s, func() *attrcache.Session { return e.start(b, st) }),
			func(i int) error { return s[i].CreateMany(ctx, plain) })
	})
	b.Run("SetMany", func(b *testing.B) {
		s := full(b, st, plain)
		run(b, func(int) {}, func(int) error { return s.SetMany(ctx, plain) })
	})
	b.Run("UpdateMany-sealed", func(b *testing.B) {
		s := full(b, sealed, seal, enc)
		run(b, func(int) {}, func(int) error { return s.UpdateMany(ctx, seal, enc) })
	})
	b.Run("UpdateMany-sealed-expiring", func(b *testing.B) {
		s := full(b, sealed, seal, enc, attrcache.WithExpiration(sessionTTL))
		run(b, func(int) {}, func(int) error { return s.UpdateMany(ctx, seal, enc) })
	})
	b.Run("SetExpiryMany-sealed", func(b *testing.B) {
		s := full(b, sealed, seal, enc)
		exp := make(map[string]time.Duration, fullAttrs)
		for _, n := range ns {
			exp[n] = sessionTTL
		}
		run(b, func(int) {}, func(int) error { return s.SetExpiryMany(ctx, exp) })
	})
	b.Run("Rotate", func(b *testing.B) {
		s := sessions()
		run(b, fresh(s, func() *attrcache.Session { return full(b, st, plain) }),
			func(i int) error { _, err := s[i].Rotate(ctx, e.sid()); return err })
	})
	b.Run("Rotate-bound", func(b *testing.B) {
		const uid = "worst-call-user"
		s := sessions()
		run(b, fresh(s, func() *attrcache.Session {
			sess, err := st.Start(ctx, st.User(uid).NewSessionID(), sessionTTL, attrcache.WithUser(uid))
			if err != nil {
				b.Fatalf("Start: %v", err)
			}
			if err := sess.CreateMany(ctx, plain); err != nil {
				b.Fatalf("CreateMany: %v", err)
			}
			return sess
		}), func(i int) error { _, err := s[i].Rotate(ctx, s[i].NewID()); return err })
	})
	b.Run("DeleteMany", func(b *testing.B) {
		s := sessions()
		run(b, fresh(s, func() *attrcache.Session { return full(b, st, plain) }),
			func(i int) error { return s[i].DeleteMany(ctx, ns) })
	})
	b.Run("reclaim-step", func(b *testing.B) {
		// A reclaim cycle takes about fullAttrs/8 steps (HSCAN COUNT 8):
		// every call steps within the first cycle of a fresh session.
		const perSession = 10
		var s *attrcache.Session
		small := value(valueSize)
		run(b, func(i int) {
			if i%perSession == 0 || i == worstCalls {
				s = full(b, st, plain, attrcache.WithExpiration(time.Millisecond))
				time.Sleep(5 * time.Millisecond)
			}
		}, func(int) error { return s.Set(ctx, "small", small) })
	})
}
