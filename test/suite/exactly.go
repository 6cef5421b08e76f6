package suite

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// recorder is a hook that keeps the arguments of the last script a client
// sent, so that a test can send the same command again later: a resend by
// go-redis that arrives after other writes.
type recorder struct {
	mu   sync.Mutex
	last []any
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n == "fcall" || n == "evalsha" || n == "eval" {
			r.mu.Lock()
			r.last = slices.Clone(cmd.Args())
			r.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}
func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// replay sends the recorded command again, on the backend's own client.
func (r *recorder) replay(t *testing.T, b Backend) {
	t.Helper()
	r.mu.Lock()
	args := r.last
	r.mu.Unlock()
	if args == nil {
		t.Fatal("no script was recorded")
	}
	if err := b.Client.Do(ctx, args...).Err(); err != nil {
		t.Fatalf("replaying the recorded call: %v", err)
	}
}

// testExactlyOnce sends a write again after another write came in between,
// as go-redis does when the first reply was lost and the retry backoff
// let another caller in: the resend must change nothing, so the write in
// between is what stays. The reproductions of the review come first:
// Set then Set, a deleted one-time token, End/Start/resent End.
func testExactlyOnce(t *testing.T, b Backend) {
	b.skipHooked(t)
	rec := &recorder{}
	rdb := b.NewClient()
	defer rdb.Close()
	rdb.AddHook(rec)
	st := newStore(t, rdb)
	plain, err := attrcache.New(b.Client, attrcache.WithNamespace(st.Namespace()))
	must(t, err)

	type kase struct {
		name    string
		setup   func(p *attrcache.Session)               // on the plain store
		call    func(s *attrcache.Session) error         // recorded
		between func(p *attrcache.Session)               // on the plain store, before the resend
		check   func(t *testing.T, p *attrcache.Session) // after the resend
	}
	one := func(name, value string) []attrcache.Attr { return []attrcache.Attr{{Name: name, Value: v(value)}} }
	cases := []kase{
		{
			name:    "Set then Set",
			call:    func(s *attrcache.Session) error { return s.Set(ctx, "role", v("admin")) },
			between: func(p *attrcache.Session) { must(t, p.Set(ctx, "role", v("user"))) },
			check:   func(t *testing.T, p *attrcache.Session) { wantValue(t, p, "role", "user") },
		},
		{
			name:    "Create of a token deleted in between",
			call:    func(s *attrcache.Session) error { return s.Create(ctx, "once", v("token")) },
			between: func(p *attrcache.Session) { must(t, p.Delete(ctx, "once")) },
			check:   func(t *testing.T, p *attrcache.Session) { wantAbsent(t, p, "once") },
		},
		{
			name:    "CreateMany",
			call:    func(s *attrcache.Session) error { return s.CreateMany(ctx, append(one("x", "1"), one("y", "1")...)) },
			between: func(p *attrcache.Session) { must(t, p.DeleteMany(ctx, []string{"x", "y"})) },
			check: func(t *testing.T, p *attrcache.Session) {
				wantAbsent(t, p, "x")
				wantAbsent(t, p, "y")
			},
		},
		{
			name:    "SetMany",
			call:    func(s *attrcache.Session) error { return s.SetMany(ctx, append(one("x", "old"), one("y", "old")...)) },
			between: func(p *attrcache.Session) { must(t, p.SetMany(ctx, append(one("x", "new"), one("y", "new")...))) },
			check: func(t *testing.T, p *attrcache.Session) {
				wantValue(t, p, "x", "new")
				wantValue(t, p, "y", "new")
			},
		},
		{
			name:    "Update",
			setup:   func(p *attrcache.Session) { must(t, p.Create(ctx, "u", v("0"))) },
			call:    func(s *attrcache.Session) error { return s.Update(ctx, "u", v("1")) },
			between: func(p *attrcache.Session) { must(t, p.Update(ctx, "u", v("2"))) },
			check:   func(t *testing.T, p *attrcache.Session) { wantValue(t, p, "u", "2") },
		},
		{
			name:    "UpdateMany",
			setup:   func(p *attrcache.Session) { must(t, p.CreateMany(ctx, append(one("u", "0"), one("w", "0")...))) },
			call:    func(s *attrcache.Session) error { return s.UpdateMany(ctx, append(one("u", "1"), one("w", "1")...)) },
			between: func(p *attrcache.Session) { must(t, p.Delete(ctx, "u")) },
			check: func(t *testing.T, p *attrcache.Session) {
				wantAbsent(t, p, "u")
				wantValue(t, p, "w", "1")
			},
		},
		{
			name:    "Delete of a name set again in between",
			setup:   func(p *attrcache.Session) { must(t, p.Create(ctx, "d", v("0"))) },
			call:    func(s *attrcache.Session) error { return s.Delete(ctx, "d") },
			between: func(p *attrcache.Session) { must(t, p.Create(ctx, "d", v("again"))) },
			check:   func(t *testing.T, p *attrcache.Session) { wantValue(t, p, "d", "again") },
		},
		{
			name:    "DeleteMany",
			setup:   func(p *attrcache.Session) { must(t, p.CreateMany(ctx, append(one("d", "0"), one("e", "0")...))) },
			call:    func(s *attrcache.Session) error { return s.DeleteMany(ctx, []string{"d", "e"}) },
			between: func(p *attrcache.Session) { must(t, p.Create(ctx, "e", v("again"))) },
			check:   func(t *testing.T, p *attrcache.Session) { wantValue(t, p, "e", "again") },
		},
		{
			name:    "SetExpiry",
			setup:   func(p *attrcache.Session) { must(t, p.Create(ctx, "x", v("0"))) },
			call:    func(s *attrcache.Session) error { return s.SetExpiry(ctx, "x", time.Second) },
			between: func(p *attrcache.Session) { must(t, p.SetExpiry(ctx, "x", time.Hour)) },
			check: func(t *testing.T, p *attrcache.Session) {
				if e := get(t, p, "x"); time.Until(e.Expires) < 50*time.Minute {
					t.Fatalf("a resent SetExpiry brought the expiry back to %v", time.Until(e.Expires))
				}
			},
		},
		{
			name:  "SetExpiryMany",
			setup: func(p *attrcache.Session) { must(t, p.CreateMany(ctx, append(one("x", "0"), one("y", "0")...))) },
			call: func(s *attrcache.Session) error {
				return s.SetExpiryMany(ctx, map[string]time.Duration{"x": time.Second, "y": time.Second})
			},
			between: func(p *attrcache.Session) { must(t, p.SetExpiry(ctx, "x", time.Hour)) },
			check: func(t *testing.T, p *attrcache.Session) {
				if e := get(t, p, "x"); time.Until(e.Expires) < 50*time.Minute {
					t.Fatalf("a resent SetExpiryMany brought the expiry back to %v", time.Until(e.Expires))
				}
			},
		},
		{
			name: "Renew",
			call: func(s *attrcache.Session) error { _, err := s.Renew(ctx, time.Hour); return err },
			between: func(p *attrcache.Session) {
				_, err := p.Renew(ctx, 2*time.Minute)
				must(t, err)
			},
			check: func(t *testing.T, p *attrcache.Session) {
				ttl, err := p.TTL(ctx)
				must(t, err)
				if ttl > 3*time.Minute {
					t.Fatalf("a resent Renew brought the TTL back to %v", ttl)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sid := "sid-" + randHex(8)
			p, err := plain.Start(ctx, sid, time.Hour)
			must(t, err)
			if c.setup != nil {
				c.setup(p)
			}
			must(t, c.call(st.Session(sid)))
			c.between(p)
			before := snapshot(t, b, p.Key())
			rec.replay(t, b)
			c.check(t, p)
			// The resend wrote nothing at all: no record, no counter, no log.
			sameSnapshot(t, "the resend", before, snapshot(t, b, p.Key()))
		})
	}

	t.Run("End, Start, resent End", func(t *testing.T) {
		sid := "sid-" + randHex(8)
		_, err := plain.Start(ctx, sid, time.Hour)
		must(t, err)
		must(t, st.Session(sid).End(ctx))
		p, err := plain.Start(ctx, sid, time.Hour)
		must(t, err)
		must(t, p.Create(ctx, "new", v("session")))
		rec.replay(t, b)
		wantValue(t, p, "new", "session")
	})
	t.Run("Start, End, resent Start", func(t *testing.T) {
		sid := "sid-" + randHex(8)
		_, err := st.Start(ctx, sid, time.Hour)
		must(t, err)
		must(t, plain.Session(sid).End(ctx))
		rec.replay(t, b)
		_, err = plain.Session(sid).Names(ctx)
		wantErr(t, "a session whose resent Start came after its End", err, attrcache.ErrSessionNotFound)
	})
}
