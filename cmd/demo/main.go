// Command demo walks through the whole attrcache API and prints what it
// does. With no Redis configured it runs on an embedded miniredis; with
// -config FILE or ATTRCACHE_REDIS_ADDRS it runs on that Redis (single
// node, cluster or Sentinel, as configured; a file without redis.addrs
// means 127.0.0.1:6379) and says so first. Its keys live under the
// configured attrcache.namespace, or under attrcache-demo when none is
// configured, so it does not mix with an application's sessions.
//
// It exits 0 when every step did what attrcache promises, and 1 with a
// one-line reason otherwise (for example when Redis is unreachable or
// refuses the credentials). Warnings about the configuration (a misspelt
// ATTRCACHE_ variable) go to stderr.
//
// With -serve ADDR it walks through nothing and serves instead, on the
// same Redis, a small shop for a browser to try package web with: log in,
// a page only a logged-in user sees, a step up that moves the session to
// a new id, a cart, log out, and log out everywhere (shop.go). It serves
// HTTPS with a self-signed certificate made at start, since the session
// cookie is Secure, until interrupted; -idle sets how long a session
// lives without a request:
//
//	go run ./cmd/demo -serve 127.0.0.1:8443 -idle 30s
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/internal/inspect"
	"github.com/attrcache/attrcache/keys"
)

// quiet drops go-redis's own log lines: the demo reports failures itself,
// in one line.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func main() {
	redis.SetLogger(quiet{})
	configPath := flag.String("config", "", "YAML configuration file (default: ATTRCACHE_* environment only)")
	addr := flag.String("serve", "", "serve the demo's web application over HTTPS at `ADDR` (such as 127.0.0.1:8443) instead of walking through the API")
	idle := flag.Duration("idle", defaultIdle, "with -serve: how long a web session lives without a request")
	flag.Parse()
	if *addr == "" && isSet("idle") {
		fmt.Fprintln(os.Stderr, "demo: -idle needs -serve")
		os.Exit(2)
	}
	var err error
	if *addr != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = serve(ctx, os.Stdout, os.Stderr, *configPath, *addr, *idle)
		stop()
	} else {
		err = run(context.Background(), os.Stdout, os.Stderr, *configPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo: "+oneLine(err))
		os.Exit(1)
	}
}

// isSet reports whether the command line gave the flag.
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// oneLine keeps a failure to one line, whatever the error wraps.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// backend is where the demo runs and how it lets time pass.
type backend struct {
	rdb     redis.UniversalClient
	advance func(time.Duration)
	// mr is the embedded miniredis, nil on a configured Redis.
	mr *miniredis.Miniredis
}

// close closes the client, then the embedded miniredis if any.
func (b backend) close() {
	b.rdb.Close()
	if b.mr != nil {
		b.mr.Close()
	}
}

// demoNamespace keeps the demo's keys apart when no namespace is
// configured.
const demoNamespace = "attrcache-demo"

// run walks through the API on the configured Redis, printing the steps
// to w and warnings about the configuration to warn.
func run(ctx context.Context, w, warn io.Writer, configPath string) error {
	store, b, err := open(ctx, w, warn, configPath)
	if err != nil {
		return err
	}
	defer b.close()
	d := demo{w: w, store: store, rdb: b.rdb, advance: b.advance}
	return d.walk(ctx)
}

// open connects to the configured Redis, or starts the embedded
// miniredis, and returns a ready Store on it, saying where on w. The
// caller closes the backend.
func open(ctx context.Context, w, warn io.Writer, configPath string) (_ *attrcache.Store, _ backend, err error) {
	cfg, err := config.Load(configPath)
	if err != nil {
		return nil, backend{}, err
	}
	for _, msg := range cfg.Warnings() {
		fmt.Fprintln(warn, "demo: warning: "+msg)
	}
	var b backend
	if configPath == "" && !cfg.RedisConfigured() {
		mr, err := miniredis.Run()
		if err != nil {
			return nil, backend{}, fmt.Errorf("starting the embedded miniredis: %w", err)
		}
		// miniredis keeps real time, which reads judge expiry against;
		// only its key TTLs need moving along.
		b = backend{
			rdb: redis.NewClient(&redis.Options{Addr: mr.Addr()}),
			advance: func(d time.Duration) {
				time.Sleep(d)
				mr.FastForward(d)
			},
			mr: mr,
		}
		fmt.Fprintln(w, "attrcache demo on an embedded miniredis (no Redis configured)")
	} else {
		dial, cancel := context.WithTimeout(ctx, cfg.Redis.DialTimeout+cfg.Redis.ReadTimeout+time.Second)
		rdb, err := cfg.Connect(dial)
		cancel()
		if err != nil {
			// Says unreachable or authentication failed, and where.
			return nil, backend{}, err
		}
		b = backend{rdb: rdb, advance: time.Sleep}
		fmt.Fprintf(w, "attrcache demo on Redis at %s (%s)\n", strings.Join(cfg.RedisAddrs(), ","), cfg.Redis.ResolvedMode())
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()

	// The configured keyset, or a throwaway one.
	cipher, err := cfg.NewCipher(nil)
	if err != nil {
		return nil, backend{}, err
	}
	if cipher == nil {
		kek, err := keys.Generate()
		if err != nil {
			return nil, backend{}, err
		}
		if cipher, err = keys.NewEnvelope(kek); err != nil {
			return nil, backend{}, err
		}
		fmt.Fprintln(w, "encryption with a throwaway keyset (none configured)")
	} else {
		fmt.Fprintln(w, "encryption with the configured keyset")
	}
	// StoreOptions carries the configured namespace; only when none was
	// configured does the demo pick its own.
	opts := append(cfg.StoreOptions(cfg.NewLogger(io.Discard)), attrcache.WithCipher(cipher))
	if !cfg.IsSet("attrcache.namespace") {
		opts = append(opts, attrcache.WithNamespace(demoNamespace))
	}
	store, err := attrcache.New(b.rdb, opts...)
	if err != nil {
		return nil, backend{}, err
	}
	if cfg.IsSet("attrcache.namespace") {
		fmt.Fprintf(w, "namespace %s (configured)\n", store.Namespace())
	} else {
		fmt.Fprintf(w, "namespace %s (set attrcache.namespace to choose another)\n", store.Namespace())
	}
	// The readiness check a service runs at start-up (config.OpenStore
	// does it too): Redis answers and the write scripts are loaded.
	t0 := time.Now()
	if err := store.Ping(ctx); err != nil {
		return nil, backend{}, fmt.Errorf("not ready: %w", err)
	}
	fmt.Fprintf(w, "ready: Store.Ping answered in %v (Redis reachable, scripts loaded)\n", time.Since(t0).Round(10*time.Microsecond))
	return store, b, nil
}

type demo struct {
	w       io.Writer
	store   *attrcache.Store
	rdb     redis.UniversalClient
	advance func(time.Duration)
	step    int
}

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.w, "%2d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) detail(format string, args ...any) {
	fmt.Fprintf(d.w, "      %s\n", fmt.Sprintf(format, args...))
}

// expect turns a wrong outcome into the demo's failure.
func expect(what string, err, want error) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("%s: got %v, want %v", what, err, want)
	}
	return nil
}

func sessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "ust-" + hex.EncodeToString(b)
}

func (d *demo) walk(ctx context.Context) error {
	// Scenario 1 of the product page: log in, create one attribute.
	sess, err := d.store.Start(ctx, sessionID(), 30*time.Minute)
	if err != nil {
		return err
	}
	d.say("Start: a session that lives 30m (its key holds only a digest of the id: %s)", sess.Key())
	if err := sess.Create(ctx, "my-attribute", []byte("my-value")); err != nil {
		return err
	}
	e, err := sess.Get(ctx, "my-attribute")
	if err != nil {
		return err
	}
	d.say("Create my-attribute, then Get: %s = %q", e.Name, e.Value)
	err = sess.Create(ctx, "my-attribute", []byte("other"))
	if err := expect("second Create", err, attrcache.ErrExists); err != nil {
		return err
	}
	d.say("Create my-attribute again: refused (%v)", err)

	// Scenario 2: three attributes at once, with per-item overrides.
	err = sess.CreateMany(ctx, []attrcache.Attr{
		{Name: "my-attr1", Value: []byte("my-value1")},
		{Name: "my-attr2", Value: []byte("my-value2"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "my-attr3", Value: []byte("my-value3"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
	})
	if err != nil {
		return err
	}
	d.say("CreateMany my-attr1, my-attr2 (encrypted), my-attr3 (expires in 1h), in one round trip")
	names := []string{"my-attr1", "my-attr2", "my-attr3"}
	m, err := sess.GetMany(ctx, names)
	if err != nil {
		return err
	}
	d.say("GetMany, decrypting on the way:")
	for _, n := range names {
		e := m[n]
		exp := "with the session"
		if !e.Expires.IsZero() {
			exp = "at " + e.Expires.UTC().Format(time.TimeOnly)
		}
		d.detail("%s = %q (encrypted: %t, expires %s)", n, e.Value, e.Encrypted, exp)
	}
	raw, err := sess.Get(ctx, "my-attr2", attrcache.WithoutDecryption())
	if err != nil {
		return err
	}
	if strings.Contains(string(raw.Value), "my-value2") {
		return errors.New("the stored ciphertext holds the plaintext")
	}
	d.say("Get my-attr2 WithoutDecryption: %d bytes of Tink ciphertext for a %d-byte value", len(raw.Value), len("my-value2"))
	d.say("Printing an entry never shows its value: %v", *m["my-attr1"])

	all, err := sess.Names(ctx)
	if err != nil {
		return err
	}
	d.say("Names: %v", all)
	if err := sess.Update(ctx, "my-attr1", []byte("new-value1")); err != nil {
		return err
	}
	e, err = sess.Get(ctx, "my-attr1")
	if err != nil {
		return err
	}
	d.say("Update my-attr1: %q (Created kept, Modified moved)", e.Value)
	err = sess.Update(ctx, "no-such-attr", []byte("x"))
	if err := expect("Update of a missing attribute", err, attrcache.ErrNotFound); err != nil {
		return err
	}
	d.say("Update no-such-attr: refused (%v)", err)
	if err := sess.Delete(ctx, "my-attr3"); err != nil {
		return err
	}
	ok, err := sess.Exists(ctx, "my-attr3")
	if err != nil {
		return err
	}
	d.say("Delete my-attr3: exists now? %t", ok)

	// Expiry, and its clamp to the session.
	if err := sess.Create(ctx, "csrf-seed", []byte("seed"), attrcache.WithExpiration(300*time.Millisecond)); err != nil {
		return err
	}
	d.say("Create csrf-seed expiring in 300ms; letting 400ms pass")
	d.advance(400 * time.Millisecond)
	_, err = sess.Get(ctx, "csrf-seed")
	if err := expect("Get of an expired attribute", err, attrcache.ErrNotFound); err != nil {
		return err
	}
	d.say("Get csrf-seed: %v", err)
	if err := sess.Create(ctx, "csrf-seed", []byte("fresh")); err != nil {
		return err
	}
	d.say("Create csrf-seed again: an expired attribute is replaced")

	// Typed values.
	type profile struct {
		Roles []string `json:"roles"`
		MFA   bool     `json:"mfa"`
	}
	if err := attrcache.SetJSON(ctx, sess, "profile", profile{Roles: []string{"editor"}, MFA: true}); err != nil {
		return err
	}
	p, err := attrcache.GetJSON[profile](ctx, sess, "profile")
	if err != nil {
		return err
	}
	d.say("SetJSON, then GetJSON[profile]: %+v", p)

	// What an operator sees (cmd/attrcache inspect): no values.
	now, _, _ := d.store.Now()
	info, err := inspect.Read(ctx, d.rdb, sess.Key(), now.UnixMilli())
	if err != nil {
		return err
	}
	d.say("Inspect: %s; counters %d attributes, %d bytes; the resend log holds the last %d calls (a resent one is recognised and not run again)",
		info.State, info.Counted, info.CountedBytes, info.ResendLog)

	short, err := d.store.Start(ctx, sessionID(), 2*time.Second, attrcache.WithMaxLifetime(3*time.Second))
	if err != nil {
		return err
	}
	if err := short.Create(ctx, "step-up", []byte("ok"), attrcache.WithExpiration(time.Hour)); err != nil {
		return err
	}
	e, err = short.Get(ctx, "step-up")
	if err != nil {
		return err
	}
	d.say("In a session with 2s left, Create step-up expiring in 1h: it expires %v after creation, with its session",
		e.Expires.Sub(e.Created).Round(100*time.Millisecond))
	shortExp, err := short.Renew(ctx, time.Hour)
	if err != nil {
		return err
	}
	d.say("Renew that session for 1h: it started WithMaxLifetime(3s), so it now expires %v after creation",
		shortExp.Sub(e.Created).Round(100*time.Millisecond))

	// Session lifecycle.
	exp, err := sess.Renew(ctx, time.Hour)
	if err != nil {
		return err
	}
	ttl, err := sess.TTL(ctx)
	if err != nil {
		return err
	}
	d.say("Renew for 1h: new expiry %s, TTL %v", exp.UTC().Format(time.TimeOnly), ttl.Round(time.Second))
	if err := sess.End(ctx); err != nil {
		return err
	}
	_, err = sess.Get(ctx, "my-attr1")
	if err := expect("Get after End", err, attrcache.ErrSessionNotFound); err != nil {
		return err
	}
	d.say("End: every attribute gone at once; Get now says %q", err)
	err = sess.Create(ctx, "zombie", []byte("x"))
	if err := expect("Create after End", err, attrcache.ErrSessionNotFound); err != nil {
		return err
	}
	d.say("Create after End: %v (no half-made session is left behind)", err)
	if err := short.End(ctx); err != nil {
		return err
	}
	if err := d.walkWeb(ctx); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "demo finished: every step behaved as documented")
	return nil
}
