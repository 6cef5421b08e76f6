package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// testUID is a user id as an application might have one: it must never
// reach the tool's output, whole or in part.
const testUID = "jane.doe+attrcache@example.org"

// startUser starts a session of uid for the test.
func (e *env) startUser(t *testing.T, uid string, ttl time.Duration) *attrcache.Session {
	t.Helper()
	s, err := e.store.Start(context.Background(), e.store.User(uid).NewSessionID(), ttl, attrcache.WithUser(uid))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // the list is oldest first, to the millisecond
	return s
}

// noUID checks that the output holds no part of the user id.
func noUID(t *testing.T, r result, uid string) {
	t.Helper()
	absent(t, r, uid, strings.Split(uid, "@")[0], strings.ToLower(uid))
}

func TestUserSessions(t *testing.T) {
	e := newEnv(t, "usertest")
	ctx := context.Background()
	u := e.store.User(testUID)

	r := mustRun(t, testUID+"\n", "-config", e.config, "user", "sessions", "-")
	present(t, r.stdout, "user "+u.ID()+" has no live session")
	noUID(t, r, testUID)

	s1 := e.startUser(t, testUID, time.Hour)
	s2 := e.startUser(t, testUID, 2*time.Hour)
	ended := e.startUser(t, testUID, time.Hour)
	if err := ended.End(ctx); err != nil {
		t.Fatal(err)
	}
	expired := e.startUser(t, testUID, time.Hour)
	expireSoon(t, expired)
	other := e.startUser(t, "someone-else", time.Hour)
	_, unbound := e.start(t, time.Hour)
	if err := u.Set(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}

	refs, err := u.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var times []string
	for _, ref := range refs {
		times = append(times, ref.Created.UTC().Format(timeLayout)+" (", ref.Expires.UTC().Format(timeLayout)+" (in ")
	}
	for name, r := range map[string]result{
		"stdin":    mustRun(t, testUID+"\n", "-config", e.config, "user", "sessions", "-"),
		"-stdin":   mustRun(t, testUID+"\n", "user", "sessions", "-stdin", "-config", e.config),
		"argument": mustRun(t, "", "-config", e.config, "user", "sessions", testUID),
	} {
		out := squash(r.stdout)
		present(t, out, "user "+u.ID()+": 2 live sessions, oldest first", "SESSION CREATED EXPIRES", s1.ID()+" ", s2.ID()+" ")
		present(t, out, times...)
		if strings.Index(out, s1.ID()) > strings.Index(out, s2.ID()) {
			t.Errorf("%s: not oldest first:\n%s", name, out)
		}
		for _, s := range []*attrcache.Session{ended, expired, other, unbound} {
			if strings.Contains(out, s.ID()) {
				t.Errorf("%s: lists session %s, which is not a live session of the user:\n%s", name, s.ID(), out)
			}
		}
		noUID(t, r, testUID)
		absent(t, r, plainSecret, s1.Key(), u.Key())
		if lines := strings.Count(r.stdout, "\n"); lines != 4 {
			t.Errorf("%s: %d lines, want a heading, a header and 2 sessions:\n%s", name, lines, r.stdout)
		}
	}
}

func TestUserEnd(t *testing.T) {
	e := newEnv(t, "usertest")
	ctx := context.Background()
	u := e.store.User(testUID)
	here := e.startUser(t, testUID, time.Hour)
	elsewhere := []*attrcache.Session{e.startUser(t, testUID, time.Hour), e.startUser(t, testUID, time.Hour)}
	other := e.startUser(t, "someone-else", time.Hour)
	if err := u.Set(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}
	alive := func(s *attrcache.Session) bool {
		t.Helper()
		_, err := s.TTL(ctx)
		if err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	// A digest that is no live session of the user: nothing is ended.
	r := runCmd(t, testUID+"\n", "-config", e.config, "user", "end", "-except", other.ID(), "-")
	if r.code != 1 || !strings.Contains(r.stderr, "no live session whose digest is one given to -except") ||
		!strings.Contains(r.stderr, "nothing was ended") || !strings.Contains(r.stderr, here.ID()) {
		t.Errorf("-except with another user's session: exit %d, stderr %q", r.code, r.stderr)
	}
	noUID(t, r, testUID)
	if !alive(here) || !alive(elsewhere[0]) || !alive(elsewhere[1]) {
		t.Fatal("a refused user end ended a session")
	}

	// Log out everywhere else.
	r = mustRun(t, testUID+"\n", "-config", e.config, "user", "end", "-except", here.ID(), "-")
	present(t, r.stdout, "ended 2 sessions of user "+u.ID(), "kept "+here.ID())
	noUID(t, r, testUID)
	absent(t, r, plainSecret)
	if !alive(here) || alive(elsewhere[0]) || alive(elsewhere[1]) || !alive(other) {
		t.Fatal("user end -except did not end exactly the other sessions of the user")
	}
	if e, err := u.Get(ctx, "role"); err != nil || string(e.Value) != plainSecret {
		t.Fatalf("the user's attribute after user end: %v, %v", e, err)
	}

	// Everywhere; then there is nothing to end, which is no failure.
	r = mustRun(t, "", "-config", e.config, "user", "end", testUID)
	present(t, r.stdout, "ended 1 session of user "+u.ID())
	noUID(t, r, testUID)
	if alive(here) || !alive(other) {
		t.Fatal("user end did not end the user's last session, or ended another user's")
	}
	r = mustRun(t, testUID+"\n", "-config", e.config, "user", "end", "-stdin")
	present(t, r.stdout, "ended 0 sessions of user "+u.ID())
	r = mustRun(t, "", "-config", e.config, "user", "sessions", testUID)
	present(t, r.stdout, "has no live session")
}

// The user id never comes back in a usage error, wherever it was typed.
func TestUserUsage(t *testing.T) {
	sid := newID()
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"user"}, "", "user: a subcommand is required: sessions or end"},
		{[]string{"user", testUID}, "", "the first argument must be the subcommand"},
		{[]string{"user", "jane", "sessions"}, "", "the first argument must be the subcommand"},
		{[]string{"user", "sessions"}, "", "user sessions: a user id is required"},
		{[]string{"user", "end", "-except", "AAAAAAAA"}, "", "user end: a user id is required"},
		{[]string{"user", "sessions", testUID, "jane"}, "", "user sessions: 2 arguments given; it takes one user id"},
		{[]string{"user", "sessions", "-stdin", testUID}, testUID + "\n", "-stdin reads the user id from stdin"},
		{[]string{"user", "sessions", "-"}, "\n", "no user id on stdin"},
		{[]string{"user", "end", ""}, "", "the user id is empty"},
		{[]string{"user", "end", strings.Repeat("u", attrcache.MaxIDBytes+1)}, "", "user end: the user id is 513 bytes, over attrcache's limit of 512"},
		{[]string{"user", "end", "-except", testUID, "-"}, testUID + "\n", "user end: -except takes a session's short digest"},
		{[]string{"user", "end", "-except=" + sid, "-"}, testUID + "\n", "user end: -except takes a session's short digest"},
		{[]string{"user", "end", "-except"}, "", "flag needs an argument: -except"},
		{[]string{"user", "sessions", "-except", "AAAAAAAA", "x"}, "", "user sessions: unknown flag -except"},
	} {
		r := runCmd(t, tc.stdin, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%d args: exit %d, stderr %q; want exit 2 and %q", len(tc.args), r.code, r.stderr, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("%d args: stdout %q on a usage error", len(tc.args), r.stdout)
		}
		noUID(t, r, testUID)
		absent(t, r, "jane", sid)
	}
	for _, args := range [][]string{{"user", "-h"}, {"user", "help"}, {"user", "end", "-h"}} {
		r := mustRun(t, "", args...)
		present(t, r.stdout, "user sessions USER-ID", "user end USER-ID", "-except DIGEST", "log out everywhere")
	}
}
