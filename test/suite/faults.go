package suite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

func testCorrupt(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Create(ctx, "good", v("1")))
	plants := map[string]string{
		"short":   "\x3fabc", // a header of 19 bytes
		"version": "\x80" + strings.Repeat("\x00", 30),
		"empty":   "",
	}
	for f, rec := range plants {
		must(t, b.Client.HSet(ctx, s.Key(), f, rec).Err())
	}
	for f := range plants {
		_, err := s.Get(ctx, f)
		wantErr(t, "Get of corrupt "+f, err, attrcache.ErrCorrupt)
		wantNames(t, err, f)
		wantErr(t, "Create over corrupt "+f, s.Create(ctx, f, v("x")), attrcache.ErrCorrupt)
		wantErr(t, "Set over corrupt "+f, s.Set(ctx, f, v("x")), attrcache.ErrCorrupt)
		wantErr(t, "Update of corrupt "+f, s.Update(ctx, f, v("x")), attrcache.ErrCorrupt)
		wantErr(t, "SetExpiry of corrupt "+f, s.SetExpiry(ctx, f, time.Minute), attrcache.ErrCorrupt)
		_, err = s.Exists(ctx, f)
		wantErr(t, "Exists of corrupt "+f, err, attrcache.ErrCorrupt)
	}
	_, err := s.GetAll(ctx)
	wantErr(t, "GetAll with corrupt records", err, attrcache.ErrCorrupt)
	_, err = s.GetMany(ctx, []string{"good", "short"})
	wantErr(t, "GetMany with a corrupt record", err, attrcache.ErrCorrupt)
	// Delete clears corrupt records.
	must(t, s.DeleteMany(ctx, []string{"short", "version", "empty"}))
	wantValue(t, s, "good", "1")

	// A marker attrcache did not write, and a key of the wrong type.
	bad := start(t, newStore(t, b.Client), time.Hour)
	must(t, b.Client.HSet(ctx, bad.Key(), "\x00", "junk").Err())
	_, err = bad.Get(ctx, "good")
	wantErr(t, "Get with a corrupt marker", err, attrcache.ErrCorrupt)
	str := newStore(t, b.Client).Session("wrong-type")
	must(t, b.Client.Set(ctx, str.Key(), "not a hash", time.Minute).Err())
	// Every call fails but End, which runs last and clears the corrupt
	// key, so the id can be started again.
	for call, err := range everyCall(str) {
		if call == "End" {
			must(t, err)
			continue
		}
		wantErr(t, call+" on a key of the wrong type", err, attrcache.ErrCorrupt)
	}
	if typ := b.Client.Type(ctx, str.Key()).Val(); typ != "hash" {
		t.Fatalf("End left a key of type %s", typ)
	}
	wantErr(t, "Get after End cleared a corrupt key", func() error { _, err := str.Get(ctx, "a"); return err }(), attrcache.ErrSessionNotFound)
	_, err = newStore(t, b.Client, attrcache.WithNamespace(strings.SplitN(str.Key(), ":s:", 2)[0])).Start(ctx, "wrong-type", time.Hour)
	must(t, err)
}

// twice is a hook that sends each script twice and returns the second
// reply: the server runs the write twice while the caller sees one call,
// as when go-redis resends after a lost reply.
type twice struct{ advance func(time.Duration) }

func (twice) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h twice) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "evalsha" && name != "eval" && name != "fcall" {
			return next(ctx, cmd)
		}
		if err := next(ctx, cmd); err != nil {
			return err
		}
		h.advance(5 * time.Millisecond)
		return next(ctx, cmd)
	}
}
func (twice) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func testResend(t *testing.T, b Backend) {
	b.skipHooked(t)
	rdb := b.NewClient()
	defer rdb.Close()
	rdb.AddHook(twice{advance: b.Advance})
	st := newStore(t, rdb)
	s, err := st.Start(ctx, "sid-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", v("1"), attrcache.WithExpiration(time.Minute)))
	a := wantValue(t, s, "a", "1")
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "b", Value: v("2")}, {Name: "c", Value: v("3")}}))
	must(t, s.Set(ctx, "b", v("22")))
	must(t, s.Update(ctx, "c", v("33")))
	must(t, s.UpdateMany(ctx, []attrcache.Attr{{Name: "b", Value: v("222")}, {Name: "c", Value: v("333")}}))
	m, err := s.GetMany(ctx, []string{"b", "c"})
	must(t, err)
	if string(m["b"].Value) != "222" || string(m["c"].Value) != "333" {
		t.Fatal("resent writes lost a value")
	}
	must(t, s.SetExpiry(ctx, "a", 2*time.Minute))
	e := get(t, s, "a")
	if d := e.Expires.Sub(a.Created); d < 2*time.Minute || d > 2*time.Minute+time.Second {
		t.Fatalf("a resent SetExpiry moved expiry to %v after creation", d)
	}
	n, err := s.Incr(ctx, "n", 5)
	must(t, err)
	if n != 5 {
		t.Fatalf("a resent Incr returned %d, want 5", n)
	}
	wantValue(t, s, "n", "5")
	must(t, s.Delete(ctx, "a"))
	must(t, s.End(ctx))
	_, err = s.Names(ctx)
	wantErr(t, "Names after a resent End", err, attrcache.ErrSessionNotFound)
}

// testResendAfterExpiry resends writes whose expiry passes before the
// resend arrives: the resend must still recognise its first run, neither
// failing nor writing again (which would make the attribute or session
// live past the expiry the caller asked for).
func testResendAfterExpiry(t *testing.T, b Backend) {
	b.skipHooked(t)
	rdb := b.NewClient()
	defer rdb.Close()
	rdb.AddHook(twice{advance: func(time.Duration) { b.Advance(150 * time.Millisecond) }})
	st := newStore(t, rdb)
	plain, err := attrcache.New(b.Client, attrcache.WithNamespace(st.Namespace()))
	must(t, err)
	const d = 100 * time.Millisecond

	sid := "sid-" + randHex(8)
	_, err = st.Start(ctx, sid, d)
	must(t, err)
	_, err = plain.Session(sid).Names(ctx)
	wantErr(t, "a session whose Start was resent after its end", err, attrcache.ErrSessionNotFound)

	sid = "sid-" + randHex(8)
	p, err := plain.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, p.CreateMany(ctx, []attrcache.Attr{{Name: "u", Value: v("1")}, {Name: "x", Value: v("1")}}))
	s := st.Session(sid)
	must(t, s.Create(ctx, "c", v("1"), attrcache.WithExpiration(d)))
	must(t, s.Set(ctx, "s", v("1"), attrcache.WithExpiration(d)))
	must(t, s.Update(ctx, "u", v("2"), attrcache.WithExpiration(d)))
	must(t, s.SetExpiry(ctx, "x", d))
	for _, name := range []string{"c", "s", "u", "x"} {
		wantAbsent(t, p, name)
	}
}

// counter counts commands and pipelined commands sent to Redis, and
// keeps the name of the last.
type counter struct {
	n    atomic.Int64
	last atomic.Value // string
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		c.last.Store(cmd.Name())
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		c.last.Store(cmds[len(cmds)-1].Name())
		return next(ctx, cmds)
	}
}

func testOneRoundTrip(t *testing.T, b Backend) {
	b.skipHooked(t)
	rdb := b.NewClient()
	defer rdb.Close()
	c := &counter{}
	rdb.AddHook(c)
	st := newStore(t, rdb, attrcache.WithCipher(b.cipher(t)))
	batch := func(prefix string) []attrcache.Attr {
		out := make([]attrcache.Attr, 100)
		for i := range out {
			out[i] = attrcache.Attr{Name: fmt.Sprintf("%s%03d", prefix, i), Value: v("value")}
		}
		return out
	}
	names := func(prefix string) []string {
		out := make([]string, 100)
		for i := range out {
			out[i] = fmt.Sprintf("%s%03d", prefix, i)
		}
		return out
	}
	expiries := map[string]time.Duration{}
	for _, n := range names("m") {
		expiries[n] = time.Minute
	}
	var s *attrcache.Session
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Start", func() error { var err error; s, err = st.Start(ctx, "sid-"+randHex(8), time.Hour); return err }},
		{"Create", func() error { return s.Create(ctx, "one", v("1"), attrcache.WithEncryption()) }},
		{"CreateMany(100)", func() error { return s.CreateMany(ctx, batch("m"), attrcache.WithEncryption()) }},
		{"Set", func() error { return s.Set(ctx, "one", v("2")) }},
		{"SetMany(100)", func() error { return s.SetMany(ctx, batch("m")) }},
		{"Update", func() error { return s.Update(ctx, "one", v("3")) }},
		{"UpdateMany(100)", func() error { return s.UpdateMany(ctx, batch("m")) }},
		{"Get", func() error { _, err := s.Get(ctx, "one"); return err }},
		{"GetMany(100)", func() error { _, err := s.GetMany(ctx, names("m")); return err }},
		{"GetAll", func() error { _, err := s.GetAll(ctx); return err }},
		{"Exists", func() error { _, err := s.Exists(ctx, "one"); return err }},
		{"ExistsMany(100)", func() error { _, err := s.ExistsMany(ctx, names("m")); return err }},
		{"Names", func() error { _, err := s.Names(ctx); return err }},
		{"SetExpiry", func() error { return s.SetExpiry(ctx, "one", time.Minute) }},
		{"SetExpiryMany(100)", func() error { return s.SetExpiryMany(ctx, expiries) }},
		{"Delete", func() error { return s.Delete(ctx, "one") }},
		{"DeleteMany(100)", func() error { return s.DeleteMany(ctx, names("m")) }},
		{"Renew", func() error { _, err := s.Renew(ctx, time.Hour); return err }},
		{"TTL", func() error { _, err := s.TTL(ctx); return err }},
		{"End", func() error { return s.End(ctx) }},
	}
	// First pass loads the scripts (EVALSHA, NOSCRIPT, EVAL); the second counts.
	for pass := range 2 {
		for _, call := range calls {
			c.n.Store(0)
			if err := call.fn(); err != nil {
				t.Fatalf("pass %d %s: %v", pass, call.name, err)
			}
			if n := c.n.Load(); pass == 1 && n != 1 {
				t.Errorf("%s sent %d commands, want 1", call.name, n)
			}
			// Reads are plain commands, never scripts.
			last, _ := c.last.Load().(string)
			read := strings.HasPrefix(call.name, "Get") || strings.HasPrefix(call.name, "Exists") || call.name == "Names" || call.name == "TTL"
			script := last == "evalsha" || last == "eval" || last == "fcall"
			if pass == 1 && read == script {
				t.Errorf("%s sent %s", call.name, last)
			}
		}
	}
}

func testConcurrentCreate(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	const n = 50
	var wg sync.WaitGroup
	var won, lost atomic.Int64
	var other atomic.Value
	for i := range n {
		wg.Go(func() {
			err := s.Create(ctx, "contended", v(fmt.Sprint(i)))
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, attrcache.ErrExists):
				lost.Add(1)
			default:
				other.Store(err)
			}
		})
	}
	wg.Wait()
	if err := other.Load(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Fatalf("%d creates won and %d lost, want 1 and %d", won.Load(), lost.Load(), n-1)
	}
}

func testConcurrentCreateMany(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	const n = 50
	// Goroutine i creates k[i], k[i+1], k[i+2] with value "g<i>":
	// neighbouring batches overlap.
	name := func(i int) string { return fmt.Sprintf("k%02d", i) }
	ok := make([]bool, n)
	var wg sync.WaitGroup
	var other atomic.Value
	for i := range n {
		wg.Go(func() {
			val := v(fmt.Sprintf("g%d", i))
			err := s.CreateMany(ctx, []attrcache.Attr{{Name: name(i), Value: val}, {Name: name(i + 1), Value: val}, {Name: name(i + 2), Value: val}})
			switch {
			case err == nil:
				ok[i] = true
			case !errors.Is(err, attrcache.ErrExists):
				other.Store(err)
			}
		})
	}
	wg.Wait()
	if err := other.Load(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	all, err := s.GetAll(ctx)
	must(t, err)
	won := 0
	for i := range n {
		want := fmt.Sprintf("g%d", i)
		held := 0
		for j := i; j < i+3; j++ {
			if e := all[name(j)]; e != nil && string(e.Value) == want {
				held++
			}
		}
		switch {
		case ok[i] && held != 3:
			t.Fatalf("batch %d succeeded but holds %d of its 3 names", i, held)
		case !ok[i] && held != 0:
			t.Fatalf("batch %d failed but wrote %d of its names", i, held)
		}
		if ok[i] {
			won++
		}
	}
	if won == 0 {
		t.Fatal("no batch landed")
	}
	for nm, e := range all {
		var g int
		if _, err := fmt.Sscanf(string(e.Value), "g%d", &g); err != nil || !ok[g] {
			t.Fatalf("%s holds a value of a failed batch", nm)
		}
	}
}
