package test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// TestRestartKeepsSessions writes sessions and attributes to a node with
// AOF (appendfsync always), restarts it cleanly and then after a crash
// (SIGKILL), and reads everything back: nothing acknowledged is lost,
// session TTLs keep counting down across the restart (absolute expiry
// times are what Redis persists), and attribute expiry, kept in the
// records themselves, is still enforced afterwards.
func TestRestartKeepsSessions(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 90*time.Second)
	srv := redistest.StartServer(t, redistest.WithAOF())
	rdb := srv.Client(t)
	st := newStore(t, rdb, attrcache.WithCipher(suite.TinkCipher(t)))

	type written struct {
		sess    *attrcache.Session
		ttl     time.Duration
		entries map[string]*attrcache.Entry
	}
	// A short attribute expiry that is still ahead when the server is
	// back, and must pass afterwards.
	const shortExpiry = 3 * time.Second
	write := func(round string, n int) []written {
		var out []written
		for i := range n {
			sess, err := st.Start(ctx, fmt.Sprintf("restart-%s-%d-%s", round, i, randHex(4)), time.Duration(30+i)*time.Minute)
			must(t, err)
			must(t, sess.CreateMany(ctx, []attrcache.Attr{
				{Name: "plain", Value: []byte("p-" + round)},
				{Name: "sealed", Value: []byte("s-" + round), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
				{Name: "hour", Value: []byte("h"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
				{Name: "short", Value: []byte("x"), Options: []attrcache.WriteOption{attrcache.WithExpiration(shortExpiry)}},
			}))
			must(t, sess.Set(ctx, "plain", []byte("p2-"+round)))
			all, err := sess.GetAll(ctx)
			must(t, err)
			ttl, err := sess.TTL(ctx)
			must(t, err)
			out = append(out, written{sess: sess, ttl: ttl, entries: all})
		}
		return out
	}
	check := func(what string, ws []written) {
		t.Helper()
		for _, w := range ws {
			ttl, err := w.sess.TTL(ctx)
			if err != nil {
				t.Fatalf("%s: TTL of session %s: %v", what, w.sess.ID(), err)
			}
			if ttl <= 0 || ttl > w.ttl {
				t.Errorf("%s: session %s TTL %v, was %v before: want in (0, %v]", what, w.sess.ID(), ttl, w.ttl, w.ttl)
			}
			before, err := redisNow(ctx, rdb)
			must(t, err)
			all, err := w.sess.GetAll(ctx)
			if err != nil {
				t.Fatalf("%s: GetAll of session %s: %v", what, w.sess.ID(), err)
			}
			after, err := redisNow(ctx, rdb)
			must(t, err)
			for name := range all {
				if w.entries[name] == nil {
					t.Errorf("%s: session %s has an attribute %q it never had", what, w.sess.ID(), name)
				}
			}
			for name, was := range w.entries {
				got := all[name]
				// An attribute whose expiry passed on the server's clock
				// must read as absent; one still ahead must be there.
				if exp := was.Expires.UnixMilli(); !was.Expires.IsZero() && exp <= after {
					if exp <= before && got != nil {
						t.Errorf("%s: session %s attribute %q expired at %v but reads as live", what, w.sess.ID(), name, was.Expires)
					}
					continue
				}
				if got == nil {
					t.Errorf("%s: session %s lost %q", what, w.sess.ID(), name)
					continue
				}
				if string(got.Value) != string(was.Value) || got.Encrypted != was.Encrypted ||
					!got.Created.Equal(was.Created) || !got.Modified.Equal(was.Modified) || !got.Expires.Equal(was.Expires) {
					t.Errorf("%s: session %s attribute %q changed from %v to %v", what, w.sess.ID(), name, was, got)
				}
			}
		}
	}

	clean := write("clean", 20)
	srv.Restart(t)
	check("after a clean restart", clean)

	crash := write("crash", 20)
	srv.Kill()
	srv.Restart(t)
	check("after a crash", append(clean, crash...))

	// The short attributes were written at most a few seconds ago; once
	// their expiry has passed on the server's clock they read as absent,
	// although the restarted server only knows it from the records.
	var latest time.Time
	for _, w := range append(clean, crash...) {
		if e := w.entries["short"].Expires; e.After(latest) {
			latest = e
		}
	}
	for range 100 {
		now, err := redisNow(ctx, rdb)
		must(t, err)
		if now > latest.UnixMilli() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range append(clean, crash...) {
		_, err := w.sess.Get(ctx, "short")
		if !errors.Is(err, attrcache.ErrNotFound) {
			t.Errorf("session %s: Get of an attribute past its expiry: %v, want ErrNotFound", w.sess.ID(), err)
		}
		if e, err := w.sess.Get(ctx, "hour"); err != nil || string(e.Value) != "h" {
			t.Errorf("session %s: Get of a live attribute: %v", w.sess.ID(), err)
		}
		must(t, w.sess.Create(ctx, "short", []byte("again")))
	}
}
