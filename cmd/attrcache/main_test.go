package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/redistest"
)

// TestMain silences go-redis's own log, as main does.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

// result is one run of the tool.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) output() string { return r.stdout + r.stderr }

// runCmd runs the tool with stdin and args, as a shell would.
func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// mustRun runs the tool and fails the test unless it exits 0.
func mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := runCmd(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// absent fails the test when the output holds any of the secrets.
func absent(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.output(), s) {
			t.Errorf("output holds %q:\n%s", s, r.output())
		}
	}
}

// present fails the test when the output lacks any of the strings.
func present(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// squash collapses runs of spaces, so that tests need not know the
// width of a table's columns.
func squash(s string) string { return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " ") }

// env is a real redis-server, configuration files pointing at it (with
// and without a keyset), and a Store that plays the application.
type env struct {
	rdb      *redis.Client
	store    *attrcache.Store // with the keyset's cipher
	config   string           // YAML with the keyset
	noKeyset string           // YAML without it
	ns       string
}

func newEnv(t *testing.T, ns string) *env {
	t.Helper()
	srv := redistest.StartServer(t)
	dir := t.TempDir()
	h, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(dir, "kek.json")
	if err := keys.WriteFile(kek, h, nil); err != nil {
		t.Fatal(err)
	}
	cipher, err := keys.NewEnvelope(h)
	if err != nil {
		t.Fatal(err)
	}
	base := "redis:\n  addrs: [\"" + srv.Addr() + "\"]\nattrcache:\n  namespace: \"" + ns + "\"\n"
	e := &env{rdb: srv.Client(t), ns: ns,
		config:   writeFile(t, dir, "with-keyset.yaml", base+"encryption:\n  keyset_file: \""+kek+"\"\n"),
		noKeyset: writeFile(t, dir, "no-keyset.yaml", base),
	}
	if e.store, err = attrcache.New(e.rdb, attrcache.WithNamespace(ns), attrcache.WithCipher(cipher)); err != nil {
		t.Fatal(err)
	}
	return e
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newID returns a new session id that does not start with '-', so that a
// test can pass it as an argument without "--". (Ids are base64url: one
// in 64 starts with '-', and reads as a flag; TestUsageNeverEchoesIDs
// covers those.)
func newID() string {
	for {
		if id := attrcache.NewSessionID(); id[0] != '-' {
			return id
		}
	}
}

// start starts a session for the test and returns its id and handle.
func (e *env) start(t *testing.T, ttl time.Duration) (string, *attrcache.Session) {
	t.Helper()
	sid := newID()
	sess, err := e.store.Start(context.Background(), sid, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return sid, sess
}

// expireSoon makes the session expire now, whatever it holds, and waits
// until it has. (Starting it with a short TTL instead would race the
// writes that fill it on a loaded machine.)
func expireSoon(t *testing.T, sess *attrcache.Session) {
	t.Helper()
	if _, err := sess.Renew(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	return v
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "no command given"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"keys"}, 2, "attrcache-keys"},
		{[]string{"inspect"}, 2, "a session id is required"},
		{[]string{"end"}, 2, "a session id is required"},
		{[]string{"purge", "-force"}, 2, "a session id is required"},
		{[]string{"inspect", "-nope", "x"}, 2, "inspect: unknown flag -nope"},
		{[]string{"inspect", "x", "-config"}, 2, "flag needs an argument: -config"},
		{[]string{"stats", "-sample=x"}, 2, "stats: -sample takes a number of keys, at least 1, or all"},
		{[]string{"inspect", ""}, 2, "the session id is empty"},
		{[]string{"end", strings.Repeat("x", attrcache.MaxIDBytes+1)}, 2, "over attrcache's limit of 512"},
		{[]string{"stats", "extra"}, 2, "stats takes no arguments"},
		{[]string{"stats", "-sample", "0"}, 2, "stats: -sample takes a number of keys"},
		{[]string{"stats", "-count", "0"}, 2, "-count must be at least 1"},
		{[]string{"-config"}, 2, "flag needs an argument"},
	} {
		r := runCmd(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("%q: stdout %q on a usage error", tc.args, r.stdout)
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"inspect", "-h"}} {
		r := mustRun(t, "", args...)
		present(t, r.stdout, "inspect", "end", "purge", "stats", "-values", "-force", "-sample",
			"shells keep history", "-stdin", "attrcache-keys", "exit status")
	}
}

// A command line with two ids must not quote either back.
func TestUsageNeverEchoesIDs(t *testing.T) {
	a, b := attrcache.NewSessionID(), attrcache.NewSessionID()
	r := runCmd(t, "", "inspect", a, b)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	absent(t, r, a, b)
	r = runCmd(t, a+"\n", "inspect", "-stdin", b)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
	}
	absent(t, r, a, b)
	// An id that starts with '-', given without "--", reads as a flag.
	dash := "-" + a[1:]
	for _, args := range [][]string{{"inspect", dash}, {"end", "-stdin", dash}, {"purge", "-force", dash + "=x"}} {
		r = runCmd(t, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "put '--' before it") {
			t.Errorf("%d-byte flag: exit %d, stderr %q", len(args[len(args)-1]), r.code, r.stderr)
		}
		absent(t, r, a[1:])
	}
}

// TestFlagErrorsNeverEchoIDs: an id typed as a flag's value (-json=ID)
// or where a flag or command belongs is never shown back, whatever the
// flag's kind; the error names the flag and what it takes.
func TestFlagErrorsNeverEchoIDs(t *testing.T) {
	id := attrcache.NewSessionID()
	for id[0] == '-' { // one in 64: it would read as a flag where a command is meant
		id = attrcache.NewSessionID()
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"inspect", "-json=" + id, "-"}, "inspect: -json takes true or false"},
		{[]string{"inspect", "-", "-values=" + id}, "inspect: -values takes true or false"},
		{[]string{"end", "-stdin=" + id}, "end: -stdin takes true or false"},
		{[]string{"purge", "-force=" + id, "-"}, "purge: -force takes true or false"},
		{[]string{"stats", "-json=" + id}, "stats: -json takes true or false"},
		{[]string{"stats", "-count=" + id}, "stats: -count takes a whole number"},
		{[]string{"stats", "-count", id}, "stats: -count takes a whole number"},
		{[]string{"stats", "-progress", id}, "stats: -progress takes a duration"},
		{[]string{"stats", "-sample=" + id}, "stats: -sample takes a number of keys"},
		{[]string{"stats", "---json=" + id}, "stats: an argument that is no flag (not shown)"},
		{[]string{"---config=" + id, "stats"}, "an argument that is no flag (not shown)"},
		{[]string{"-" + id, "stats"}, "unknown flag of"},
		{[]string{id}, "unknown command of"},
		{[]string{"inspect", "-x=" + id, "-"}, "inspect: unknown flag -x"},
	} {
		r := runCmd(t, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%d args: exit %d, stderr %q; want 2 and %q", len(tc.args), r.code, r.stderr, tc.says)
		}
		absent(t, r, id, id[1:], id[:12])
	}
}

func TestConfigErrors(t *testing.T) {
	sid := newID()
	r := runCmd(t, "", "-config", filepath.Join(t.TempDir(), "missing.yaml"), "inspect", sid)
	if r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing config file: exit %d, stderr %q", r.code, r.stderr)
	}
	absent(t, r, sid)

	bad := writeFile(t, t.TempDir(), "bad.yaml", "redis:\n  dial_timeout: 5\n")
	r = runCmd(t, "", "-config", bad, "stats")
	if r.code != 1 || !strings.Contains(r.stderr, "redis.dial_timeout") {
		t.Errorf("bad config: exit %d, stderr %q", r.code, r.stderr)
	}

	// Nothing listens on port 1.
	down := writeFile(t, t.TempDir(), "down.yaml", "redis:\n  addrs: [\"127.0.0.1:1\"]\n  max_retries: 0\n  dial_timeout: 1s\n")
	for _, cmd := range []string{"inspect", "end", "purge"} {
		r = runCmd(t, sid+"\n", "-config", down, cmd, "-")
		if r.code != 1 || !strings.Contains(r.stderr, "attrcache: "+cmd+": config: ") || !strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Errorf("%s on a server that is down: exit %d, stderr %q", cmd, r.code, r.stderr)
		}
		absent(t, r, sid)
	}
}

// The id is read from stdin with "-" or -stdin, hashed as the library
// hashes it, and never printed.
func TestSessionIDFromStdin(t *testing.T) {
	e := newEnv(t, "idtest")
	sid, sess := e.start(t, time.Hour)
	want := sess.Key()
	keyOf := func(r result) string {
		t.Helper()
		absent(t, r, sid)
		return decodeJSON[sessionJSON](t, r.stdout).Key
	}
	for name, r := range map[string]result{
		"dash":         mustRun(t, sid+"\n", "-config", e.config, "inspect", "-json", "-"),
		"dash first":   mustRun(t, sid+"\n", "-config", e.config, "inspect", "-", "-json"),
		"-stdin":       mustRun(t, sid+"\n", "inspect", "-config", e.config, "-stdin", "-json"),
		"-stdin -":     mustRun(t, sid, "inspect", "-config", e.config, "-stdin", "-json", "-"),
		"CRLF":         mustRun(t, sid+"\r\nmore lines\n", "-config", e.config, "inspect", "-json", "-"),
		"argument":     mustRun(t, "", "-config", e.config, "inspect", "-json", sid),
		"after a flag": mustRun(t, "", "-config", e.config, "inspect", sid, "-json"),
	} {
		if got := keyOf(r); got != want {
			t.Errorf("%s: key %q, want %q", name, got, want)
		}
	}

	r := runCmd(t, "", "-config", e.config, "inspect", "-")
	if r.code != 2 || !strings.Contains(r.stderr, "no session id on stdin") {
		t.Errorf("empty stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	r = mustRun(t, " "+sid+"\n", "-config", e.config, "end", "-")
	present(t, r.stderr, "starts or ends with blanks")
	present(t, r.stdout, "no live session to end")
	absent(t, r, sid)

	// An id that starts with '-' is given after "--".
	dash := "-" + sid[1:]
	if _, err := e.store.Start(context.Background(), dash, time.Hour); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "", "-config", e.config, "inspect", "-json", "--", dash)
	if got := keyOf(r); got != e.store.Session(dash).Key() {
		t.Errorf("id after --: key %q, want %q", got, e.store.Session(dash).Key())
	}
	absent(t, r, dash)
}
