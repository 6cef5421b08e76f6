package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

func TestEnd(t *testing.T) {
	e := newEnv(t, "endtest")
	ctx := context.Background()
	sid, sess := e.start(t, time.Hour)
	if err := sess.Create(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, sid+"\n", "-config", e.config, "end", "-stdin")
	present(t, r.stdout, "ended session "+sess.ID(), sess.Key(), "it was live with 1 attributes")
	absent(t, r, sid, plainSecret)
	if _, err := sess.Get(ctx, "role"); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("Get after end: %v, want ErrSessionNotFound", err)
	}

	// Again: nothing to end, and that is not a failure.
	r = mustRun(t, sid+"\n", "-config", e.config, "end", "-")
	present(t, r.stdout, "no live session to end: it has already ended")
	absent(t, r, sid)

	// An id no session has.
	other := newID()
	r = mustRun(t, "", "-config", e.config, "end", other)
	present(t, r.stdout, "no live session to end: there is no key")
	absent(t, r, other)
}

// End clears a session whose marker attrcache did not write, so the id
// can be started again; a hash with no marker at all it cannot clear,
// and the tool says to purge it.
func TestEndCorrupt(t *testing.T) {
	e := newEnv(t, "endtest")
	ctx := context.Background()

	sid := attrcache.NewSessionID()
	key := e.store.Session(sid).Key()
	if err := e.rdb.HSet(ctx, key, "\x00", "junk", "role", plainSecret).Err(); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, sid+"\n", "-config", e.config, "end", "-")
	present(t, r.stdout, "cleared corrupt session", key, "not a marker attrcache wrote")
	absent(t, r, sid, plainSecret)
	if _, err := e.store.Start(ctx, sid, time.Hour); err != nil {
		t.Fatalf("Start after end cleared the corrupt session: %v", err)
	}

	sid = attrcache.NewSessionID()
	key = e.store.Session(sid).Key()
	if err := e.rdb.HSet(ctx, key, "role", plainSecret).Err(); err != nil {
		t.Fatal(err)
	}
	// A hash with fields and no marker is corrupt too: end clears it.
	r = mustRun(t, sid+"\n", "-config", e.config, "end", "-")
	present(t, r.stdout, "cleared corrupt session", key, "the hash has no marker")
	absent(t, r, sid, plainSecret)
}

func TestPurge(t *testing.T) {
	e := newEnv(t, "purgetest")
	ctx := context.Background()
	exists := func(key string) bool {
		t.Helper()
		n, err := e.rdb.Exists(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	// A string at the session's key.
	sid := attrcache.NewSessionID()
	key := e.store.Session(sid).Key()
	if err := e.rdb.Set(ctx, key, plainSecret, 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, sid+"\n", "-config", e.config, "purge", "-")
	present(t, r.stdout, "purged key "+key, "corrupt (the key is a string, not a hash)")
	absent(t, r, sid, plainSecret)
	if exists(key) {
		t.Error("the string key is still there")
	}

	// A hash with a junk marker.
	sid = attrcache.NewSessionID()
	key = e.store.Session(sid).Key()
	if err := e.rdb.HSet(ctx, key, "\x00", strings.Repeat("z", 56), "role", plainSecret).Err(); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, sid+"\n", "-config", e.config, "purge", "-stdin")
	present(t, r.stdout, "purged key "+key, "corrupt")
	absent(t, r, sid, plainSecret)
	if exists(key) {
		t.Error("the hash with a junk marker is still there")
	}

	// A live session is refused without -force, and nothing is deleted.
	sid, sess := e.start(t, time.Hour)
	if err := sess.Create(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, sid+"\n", "-config", e.config, "purge", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "is live and readable") || !strings.Contains(r.stderr, "-force") ||
		!strings.Contains(r.stderr, "attrcache end") {
		t.Errorf("purge of a live session: exit %d, stderr %q", r.code, r.stderr)
	}
	absent(t, r, sid, plainSecret)
	if !exists(sess.Key()) {
		t.Fatal("purge without -force deleted a live session")
	}
	r = mustRun(t, sid+"\n", "-config", e.config, "purge", "-force", "-")
	present(t, r.stdout, "purged key "+sess.Key(), "live with 1 attributes")
	if exists(sess.Key()) {
		t.Error("purge -force left the live session")
	}

	// Nothing there.
	r = mustRun(t, sid+"\n", "-config", e.config, "purge", "-")
	present(t, r.stdout, "nothing to purge")
	absent(t, r, sid)
}
