package test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// TestLoad runs 32 goroutines over 1,000 sessions for a few seconds, each
// mixing every call on sessions of its own, so that each goroutine keeps
// an exact model of what it was told. Every answer is checked against the
// model as it comes; afterwards an independent reader (raw MULTI TIME,
// HGETALL, PTTL, decoding the documented record format, and opening
// sealed values with the cipher and the documented associated data)
// checks what Redis holds: no attribute in an ended session, no attribute
// outliving its session, every acknowledged write visible unless the
// model deleted or expired it, nothing the model does not know, and
// matching counts.
func TestLoad(t *testing.T) {
	const (
		goroutines = 32
		sessions   = 1000
	)
	run := 8 * time.Second
	if testing.Short() {
		run = 2 * time.Second
	}
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: goroutines, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	cipher := suite.TinkCipher(t)
	st := newStore(t, rdb, attrcache.WithCipher(cipher))
	ctx := testCtx(t, run+60*time.Second)

	loaders := make([]*loader, goroutines)
	for g := range loaders {
		l := &loader{g: g, st: st, rng: rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano()))), ops: map[string]int{}}
		for i := g; i < sessions; i += goroutines {
			sid := fmt.Sprintf("load-%d-%s", i, randHex(6))
			l.sess = append(l.sess, &mSession{sid: sid, h: st.Session(sid), attrs: map[string]*mAttr{}})
		}
		loaders[g] = l
	}
	start := time.Now()
	deadline := start.Add(run)
	var wg sync.WaitGroup
	for _, l := range loaders {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil && len(l.problems) < 20 {
				l.step(ctx)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	calls, errs, tainted := 0, 0, 0
	ops := map[string]int{}
	var problems []string
	for _, l := range loaders {
		calls += l.calls
		errs += l.errors
		tainted += l.tainted
		for op, n := range l.ops {
			ops[op] += n
		}
		problems = append(problems, l.problems...)
	}
	var opList []string
	for op, n := range ops {
		opList = append(opList, fmt.Sprintf("%s %d", op, n))
	}
	sort.Strings(opList)
	t.Logf("load: %d goroutines, %d sessions, %d calls in %v: %.0f calls/s; %d unexpected errors, %d model mismatches, %d calls slower than the %v guard; calls: %s",
		goroutines, sessions, calls, elapsed.Round(time.Millisecond), float64(calls)/elapsed.Seconds(), errs, len(problems), tainted, expiryGuard, strings.Join(opList, ", "))
	for _, p := range problems[:min(len(problems), 20)] {
		t.Error(p)
	}
	if errs != 0 {
		t.Errorf("%d calls failed with errors that are not answers", errs)
	}

	// The independent reader.
	check := &loadCheck{rdb: srv.Client(t), ns: st.Namespace(), cipher: cipher}
	for _, l := range loaders {
		for _, s := range l.sess {
			check.session(ctx, t, s)
		}
	}
	t.Logf("afterwards: %d live sessions, %d ended or never started, %d live attributes, %d expired attributes not yet reclaimed",
		check.live, check.dead, check.liveAttrs, check.expiredAttrs)
	for _, p := range check.problems[:min(len(check.problems), 20)] {
		t.Error(p)
	}
	if len(check.problems) > 20 {
		t.Errorf("... and %d more problems", len(check.problems)-20)
	}
}

// expiryGuard: an attribute whose expiry is less than this ahead is not
// touched, since whether the server sees it live depends on when the
// call reaches it. A call slower than this taints the model of the
// attributes it assumed live (counted, not an error).
const expiryGuard = time.Second

// window is an interval of Unix milliseconds in which a server time lies:
// the client's clock before and after the call (same machine, same clock).
type window struct{ lo, hi int64 }

func (w window) add(d time.Duration) window {
	return window{w.lo + d.Milliseconds(), w.hi + d.Milliseconds()}
}

func (w window) has(ms int64) bool { return w.lo <= ms && ms <= w.hi }

func (w window) widen(ms int64) window { return window{w.lo - ms, w.hi + ms} }

// clockSlack bounds the error of the Store's estimate of Redis's clock on
// loopback, for the times it stamps in Go (a sealed value's expiry).
const clockSlack = 5

// mAttr is what a goroutine knows of one attribute.
type mAttr struct {
	value    string
	enc      bool
	created  window
	modified window
	expires  *window // nil: lives as long as the session
	tainted  bool    // a slow call left its state unknown
}

type mSession struct {
	sid      string
	h        *attrcache.Session
	alive    bool
	deadline window
	attrs    map[string]*mAttr
}

type state int

const (
	absent state = iota
	live
	unsure
)

// stateIn is the state of a at the server at some time in win: unsure
// when win holds a's expiry (a call slower than expiryGuard).
func (a *mAttr) stateIn(win window) state {
	switch {
	case a == nil:
		return absent
	case a.tainted:
		return unsure
	case a.expires == nil:
		return live
	case a.expires.hi <= win.lo:
		return absent
	case a.expires.lo > win.hi:
		return live
	}
	return unsure
}

// state of a at the server during a call that starts at now and takes
// less than expiryGuard.
func (a *mAttr) state(now int64) state {
	switch {
	case a == nil:
		return absent
	case a.tainted:
		return unsure
	case a.expires == nil:
		return live
	case a.expires.hi <= now:
		return absent
	case a.expires.lo > now+expiryGuard.Milliseconds():
		return live
	}
	return unsure
}

type loader struct {
	g        int
	st       *attrcache.Store
	rng      *rand.Rand
	sess     []*mSession
	seq      int
	calls    int
	errors   int
	tainted  int
	ops      map[string]int
	problems []string
}

var loadNames = []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"}

func (l *loader) problem(s *mSession, format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf("goroutine %d session %s: ", l.g, s.h.ID())+fmt.Sprintf(format, args...))
}

// writeSpec is a random write: value, encryption and expiry option.
type writeSpec struct {
	value  string
	enc    bool
	exp    time.Duration // > 0: WithExpiration
	noExp  bool          // WithoutExpiration
	opts   []attrcache.WriteOption
	create bool // for the model: Create treats "not given" as none
}

func (l *loader) spec(create bool) writeSpec {
	l.seq++
	w := writeSpec{value: fmt.Sprintf("g%d-%d-%s", l.g, l.seq, strings.Repeat("x", l.rng.IntN(64))), create: create}
	if l.rng.IntN(10) < 3 {
		w.enc = true
		w.opts = append(w.opts, attrcache.WithEncryption())
	}
	switch r := l.rng.IntN(10); {
	case r < 3:
		w.exp = 30 * time.Minute
	case r < 6:
		// Short: expires during the run, often while the goroutine
		// still works on the session.
		w.exp = time.Duration(1200+l.rng.IntN(1800)) * time.Millisecond
	case r < 7 && !create:
		w.noExp = true
	}
	if w.exp > 0 {
		w.opts = append(w.opts, attrcache.WithExpiration(w.exp))
	} else if w.noExp {
		w.opts = append(w.opts, attrcache.WithoutExpiration())
	}
	return w
}

// apply records a successful write of w to name in the call's window.
func (l *loader) apply(s *mSession, name string, w writeSpec, old *mAttr, wasLive bool, win window) {
	a := &mAttr{value: w.value, enc: w.enc, created: win, modified: win}
	if wasLive {
		a.created = old.created
		if w.exp == 0 && !w.noExp {
			a.expires = old.expires
		}
	}
	if w.exp > 0 {
		e := win.add(w.exp)
		if w.enc {
			// A sealed value's expiry is stamped in Go, on the Store's
			// estimate of Redis's clock, whose error the window takes.
			e = e.widen(clockSlack)
		}
		a.expires = &e
	}
	s.attrs[name] = a
}

// pickNames returns n distinct names whose state is known now.
func (l *loader) pickNames(s *mSession, n int, now int64) []string {
	var out []string
	for _, i := range l.rng.Perm(len(loadNames)) {
		if len(out) == n {
			break
		}
		if s.attrs[loadNames[i]].state(now) != unsure {
			out = append(out, loadNames[i])
		}
	}
	if len(out) < n {
		return nil
	}
	return out
}

// answer classifies a call's error: nil, or an answer, or a fault
// (counted as an unexpected error).
func (l *loader) fault(s *mSession, op string, err error) bool {
	if err == nil || isAnswer(err) {
		return false
	}
	l.errors++
	l.problem(s, "%s: %v", op, err)
	return true
}

func wantAnswer(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// slow reports whether a call's window was too long for the states
// assumed at its start: one of names could have expired during it. The
// model cannot tell what the server saw, so the call's answer is not
// checked and the names are tainted once the model is updated.
func (l *loader) slow(s *mSession, names []string, win window) bool {
	for _, n := range names {
		if s.attrs[n].stateIn(win) == unsure {
			l.tainted++
			return true
		}
	}
	return false
}

func (l *loader) taint(s *mSession, names []string) {
	for _, n := range names {
		if a := s.attrs[n]; a != nil {
			a.tainted = true
		}
	}
}

func now() int64 { return time.Now().UnixMilli() }

// readSlack is how much earlier than its expiry a read may hide an
// attribute: the Store's estimate may be its bound ahead of Redis's
// clock, and reads add the bound again; and a millisecond of rounding.
func (l *loader) readSlack() int64 {
	_, bound, _ := l.st.Now()
	return 2*bound.Milliseconds() + 1
}

func (l *loader) step(ctx context.Context) {
	s := l.sess[l.rng.IntN(len(l.sess))]
	ops := []string{"Create", "CreateMany", "Set", "SetMany", "Update", "Get", "GetMany", "GetAll", "Exists",
		"Names", "Delete", "DeleteMany", "SetExpiry", "Renew", "End", "Start"}
	op := ops[l.rng.IntN(len(ops))]
	if !s.alive && l.rng.IntN(4) > 0 {
		op = "Start"
	}
	l.ops[op]++
	l.calls++
	t0 := now()
	one := l.pickNames(s, 1, t0)
	many := l.pickNames(s, 2+l.rng.IntN(3), t0)
	if one == nil || many == nil {
		l.ops[op]--
		l.calls--
		return
	}
	name := one[0]
	a := s.attrs[name]
	st := a.state(t0)
	var gone error
	if !s.alive {
		gone = attrcache.ErrSessionNotFound
	}

	switch op {
	case "Start":
		ttl := time.Hour
		_, err := l.st.Start(ctx, s.sid, ttl)
		win := window{t0, now()}
		if l.fault(s, op, err) {
			return
		}
		want := error(nil)
		if s.alive {
			want = attrcache.ErrSessionExists
		}
		if !wantAnswer(err, want) {
			l.problem(s, "Start: %v, want %v", err, want)
			return
		}
		if err == nil {
			s.alive, s.deadline, s.attrs = true, win.add(ttl), map[string]*mAttr{}
		}

	case "Create", "Set", "Update":
		w := l.spec(op == "Create")
		var err error
		switch op {
		case "Create":
			err = s.h.Create(ctx, name, []byte(w.value), w.opts...)
		case "Set":
			err = s.h.Set(ctx, name, []byte(w.value), w.opts...)
		default:
			err = s.h.Update(ctx, name, []byte(w.value), w.opts...)
		}
		win := window{t0, now()}
		if l.fault(s, op, err) {
			return
		}
		if l.slow(s, one, win) {
			if err == nil {
				l.apply(s, name, w, a, st == live, win)
			}
			l.taint(s, one)
			return
		}
		want := gone
		switch {
		case gone != nil:
		case op == "Create" && st == live:
			want = attrcache.ErrExists
		case op == "Update" && st == absent:
			want = attrcache.ErrNotFound
		}
		if !wantAnswer(err, want) {
			l.problem(s, "%s(%s) on a %v attribute: %v, want %v", op, name, st, err, want)
			return
		}
		if err == nil {
			l.apply(s, name, w, a, st == live, win)
		}

	case "CreateMany", "SetMany":
		specs := make([]writeSpec, len(many))
		attrs := make([]attrcache.Attr, len(many))
		var defaults []attrcache.WriteOption
		if l.rng.IntN(2) == 0 {
			// Call-wide defaults some items override.
			defaults = []attrcache.WriteOption{attrcache.WithExpiration(20 * time.Minute)}
		}
		var conflicts []string
		wasLive := make([]bool, len(many))
		for i, n := range many {
			specs[i] = l.spec(op == "CreateMany")
			if defaults != nil && specs[i].exp == 0 && !specs[i].noExp {
				specs[i].exp = 20 * time.Minute
			}
			attrs[i] = attrcache.Attr{Name: n, Value: []byte(specs[i].value), Options: specs[i].opts}
			if s.attrs[n].state(t0) == live {
				wasLive[i] = true
				conflicts = append(conflicts, n)
			}
		}
		var err error
		if op == "CreateMany" {
			err = s.h.CreateMany(ctx, attrs, defaults...)
		} else {
			err = s.h.SetMany(ctx, attrs, defaults...)
		}
		win := window{t0, now()}
		if l.fault(s, op, err) {
			return
		}
		update := func() {
			if err == nil {
				for i, n := range many {
					l.apply(s, n, specs[i], s.attrs[n], wasLive[i], win)
				}
			}
		}
		if l.slow(s, many, win) {
			update()
			l.taint(s, many)
			return
		}
		want := gone
		if gone == nil && op == "CreateMany" && conflicts != nil {
			want = attrcache.ErrExists
		}
		if !wantAnswer(err, want) {
			l.problem(s, "%s(%v): %v, want %v", op, many, err, want)
			return
		}
		if want == attrcache.ErrExists {
			var ne *attrcache.NamesError
			if !errors.As(err, &ne) || !slices.Equal(ne.Names, conflicts) {
				l.problem(s, "%s(%v): %v, want the conflicts %v named", op, many, err, conflicts)
			}
		}
		update()

	case "Get":
		e, err := s.h.Get(ctx, name)
		win := window{t0, now()}
		if l.fault(s, op, err) || l.slow(s, one, win) {
			return
		}
		want := gone
		if gone == nil && st == absent {
			want = attrcache.ErrNotFound
		}
		if !wantAnswer(err, want) {
			l.problem(s, "Get(%s) of a %v attribute: %v, want %v", name, st, err, want)
			return
		}
		if err == nil {
			l.compare(s, name, a, e)
		}

	case "GetMany", "GetAll", "Exists", "Names":
		var got map[string]*attrcache.Entry
		var exists map[string]bool
		var names []string
		var err error
		asked := many
		switch op {
		case "GetMany":
			got, err = s.h.GetMany(ctx, many)
		case "GetAll":
			got, err = s.h.GetAll(ctx)
			asked = loadNames
		case "Exists":
			var ok bool
			ok, err = s.h.Exists(ctx, name)
			exists = map[string]bool{name: ok}
			asked = one
		case "Names":
			names, err = s.h.Names(ctx)
			asked = loadNames
		}
		// Reads judge expiry against the latest Redis's clock may read
		// (the Store's estimate plus its error bound): an attribute that
		// expires within the bound after the call may read as gone.
		win := window{t0, now() + l.readSlack()}
		if l.fault(s, op, err) {
			return
		}
		if !wantAnswer(err, gone) {
			l.problem(s, "%s: %v, want %v", op, err, gone)
			return
		}
		if err != nil {
			return
		}
		if names != nil && !slices.IsSorted(names) {
			l.problem(s, "Names not sorted: %v", names)
		}
		for _, n := range asked {
			var present bool
			switch op {
			case "GetMany":
				var in bool
				_, in = got[n]
				if !in {
					l.problem(s, "GetMany left %s out of its map", n)
				}
				present = got[n] != nil
			case "GetAll":
				present = got[n] != nil
			case "Exists":
				present = exists[n]
			case "Names":
				present = slices.Contains(names, n)
			}
			ma := s.attrs[n]
			switch ms := ma.stateIn(win); {
			case ms == unsure:
			case present != (ms == live):
				l.problem(s, "%s: %s present %v, model says %v", op, n, present, ms)
			case present && got != nil:
				l.compare(s, n, ma, got[n])
			}
		}
		if op == "GetAll" && len(got) > len(loadNames) || op == "Names" && len(names) > len(loadNames) {
			l.problem(s, "%s returned names never written", op)
		}

	case "Delete", "DeleteMany":
		var err error
		targets := one
		if op == "Delete" {
			err = s.h.Delete(ctx, name)
		} else {
			targets = many
			err = s.h.DeleteMany(ctx, many)
		}
		if l.fault(s, op, err) {
			return
		}
		if !wantAnswer(err, gone) {
			l.problem(s, "%s: %v, want %v", op, err, gone)
			return
		}
		if err == nil {
			for _, n := range targets {
				delete(s.attrs, n)
			}
		}

	case "SetExpiry":
		d := time.Duration(1200+l.rng.IntN(1800)) * time.Millisecond
		if l.rng.IntN(2) == 0 {
			d = 40 * time.Minute
		}
		err := s.h.SetExpiry(ctx, name, d)
		win := window{t0, now()}
		if l.fault(s, op, err) {
			return
		}
		if l.slow(s, one, win) {
			if err == nil {
				e := win.add(d)
				if a.enc {
					e = e.widen(clockSlack)
				}
				a.expires = &e
			}
			l.taint(s, one)
			return
		}
		want := gone
		if gone == nil && st == absent {
			want = attrcache.ErrNotFound
		}
		if !wantAnswer(err, want) {
			l.problem(s, "SetExpiry(%s) of a %v attribute: %v, want %v", name, st, err, want)
			return
		}
		if err == nil {
			e := win.add(d)
			if a.enc {
				e = e.widen(clockSlack) // stamped in Go: see apply
			}
			a.expires = &e
		}

	case "Renew":
		ttl := time.Hour
		exp, err := s.h.Renew(ctx, ttl)
		win := window{t0, now()}
		if l.fault(s, op, err) {
			return
		}
		if !wantAnswer(err, gone) {
			l.problem(s, "Renew: %v, want %v", err, gone)
			return
		}
		if err == nil {
			s.deadline = win.add(ttl)
			if !s.deadline.has(exp.UnixMilli()) {
				l.problem(s, "Renew returned %v, outside %v", exp, s.deadline)
			}
		}

	case "End":
		err := s.h.End(ctx)
		if l.fault(s, op, err) {
			return
		}
		if !wantAnswer(err, gone) {
			l.problem(s, "End: %v, want %v", err, gone)
			return
		}
		if err == nil {
			s.alive, s.attrs = false, map[string]*mAttr{}
		}
	}
}

func (st state) String() string {
	return [...]string{"absent", "live", "unsure"}[st]
}

// compare checks an Entry against the model.
func (l *loader) compare(s *mSession, name string, a *mAttr, e *attrcache.Entry) {
	if a == nil || e == nil {
		l.problem(s, "%s: entry %v, model %v", name, e, a)
		return
	}
	if a.tainted {
		return
	}
	exp := e.Expires.UnixMilli()
	// A read reports the attribute's own expiry, never past its session's.
	var want *window
	if a.expires != nil {
		w := window{min(a.expires.lo, s.deadline.lo), min(a.expires.hi, s.deadline.hi)}
		want = &w
	}
	switch {
	case string(e.Value) != a.value:
		l.problem(s, "%s: value of %d bytes differs from the %d written", name, len(e.Value), len(a.value))
	case e.Encrypted != a.enc:
		l.problem(s, "%s: encrypted %v, written %v", name, e.Encrypted, a.enc)
	case !a.created.has(e.Created.UnixMilli()) || !a.modified.has(e.Modified.UnixMilli()):
		l.problem(s, "%s: created %d modified %d, outside %v %v", name, e.Created.UnixMilli(), e.Modified.UnixMilli(), a.created, a.modified)
	case want == nil && !e.Expires.IsZero(), want != nil && !want.has(exp):
		l.problem(s, "%s: expires %v, model %v", name, e.Expires, want)
	}
}

// loadCheck is the independent reader.
type loadCheck struct {
	rdb    *redis.Client
	ns     string
	cipher attrcache.Cipher

	live, dead, liveAttrs, expiredAttrs int
	problems                            []string
}

func (c *loadCheck) problem(s *mSession, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("session %s: ", s.h.ID())+fmt.Sprintf(format, args...))
}

// ad is the documented associated data of a sealed value: namespace NUL
// digest NUL name 0x1f "1" 0x1f expiry (decimal ms, 0 for none).
func (c *loadCheck) ad(sid, name string, expires int64) []byte {
	sum := sha256.Sum256([]byte(sid))
	return []byte(c.ns + "\x00" + base64.RawURLEncoding.EncodeToString(sum[:]) + "\x00" + name + "\x1f1\x1f" + strconv.FormatInt(expires, 10))
}

func (c *loadCheck) session(ctx context.Context, t *testing.T, s *mSession) {
	key := rawKey(c.ns, s.sid)
	var tm *redis.TimeCmd
	var all *redis.MapStringStringCmd
	var pttl *redis.DurationCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		tm = p.Time(ctx)
		all = p.HGetAll(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	must(t, err)
	nowMS := tm.Val().UnixMilli()
	at := window{nowMS, nowMS}
	hash := all.Val()
	if len(hash) == 0 {
		c.dead++
		if s.alive {
			c.problem(s, "the session is alive in the model but its key is gone")
		}
		return
	}
	mk, err := decodeMarker(hash[rawMarkerField])
	if err != nil {
		c.problem(s, "marker: %v", err)
		return
	}
	if mk.state == 'E' {
		c.dead++
		if n := attrFields(hash); n != 0 {
			c.problem(s, "an ended session holds %d attribute fields", n)
		}
		if s.alive {
			c.problem(s, "the session is alive in the model but ended in Redis")
		}
		if p := pttl.Val(); p <= 0 || p > time.Minute {
			c.problem(s, "an ended session's tombstone lives %v, want (0, 1m]", p)
		}
		return
	}
	c.live++
	if !s.alive {
		c.problem(s, "the session ended in the model but is live in Redis")
		return
	}
	// The deadline is in the marker; a marker without one leaves it to the
	// key's TTL, which PEXPIRE counts from Redis's own command time, not
	// from the TIME the script read: allow a few milliseconds then.
	deadline, slack := mk.deadline, int64(0)
	if deadline == 0 {
		deadline, slack = nowMS+pttl.Val().Milliseconds(), 5
	}
	if pttl.Val() <= 0 || deadline <= nowMS || deadline < s.deadline.lo-slack || deadline > s.deadline.hi+slack {
		c.problem(s, "session deadline %d (PTTL %v), model %v", deadline, pttl.Val(), s.deadline)
	}
	if mk.deadline != 0 && nowMS+pttl.Val().Milliseconds() < mk.deadline {
		c.problem(s, "the session key expires %v before the session's deadline", time.Duration(mk.deadline-nowMS)*time.Millisecond-pttl.Val())
	}
	// The counters the limits are checked against match what the hash
	// holds, expired records included until they are reclaimed.
	var count, size int64
	for field, v := range hash {
		if field != rawMarkerField && field != rawLogField && field != rawMovedField {
			count++
			size += int64(len(field) + len(v))
		}
	}
	if mk.count != count || mk.bytes != size {
		c.problem(s, "the marker counts %d attributes of %d bytes, the hash holds %d of %d bytes", mk.count, mk.bytes, count, size)
	}
	if _, err := decodeLog(hash[rawLogField]); hash[rawLogField] != "" && err != nil {
		c.problem(s, "%v", err)
	}
	seen := map[string]bool{}
	for field, v := range hash {
		if field == rawMarkerField || field == rawLogField || field == rawMovedField {
			continue
		}
		rec, err := decodeRecord(v, mk.created)
		if err != nil {
			c.problem(s, "%s: %v", field, err)
			continue
		}
		if rec.expires != 0 && rec.expires <= nowMS {
			// Expired, waiting to be reclaimed when touched or with the
			// session: fine, as long as it reads as absent (checked by
			// the reads during the run and below).
			c.expiredAttrs++
			if a := s.attrs[field]; a != nil && a.stateIn(at) == live {
				c.problem(s, "%s expired in Redis at %d but the model has it live", field, rec.expires)
			}
			continue
		}
		c.liveAttrs++
		seen[field] = true
		a := s.attrs[field]
		if a == nil {
			c.problem(s, "%s is live in Redis but deleted or never written in the model", field)
			continue
		}
		if a.stateIn(at) == absent {
			c.problem(s, "%s is live in Redis (expires %d) but expired in the model %v", field, rec.expires, a.expires)
			continue
		}
		if a.tainted {
			continue
		}
		value := rec.value
		if rec.sealed {
			pt, err := c.cipher.Decrypt([]byte(rec.value), c.ad(s.sid, field, rec.expires))
			if err != nil {
				c.problem(s, "%s does not open with its documented associated data: %v", field, err)
				continue
			}
			value = string(pt)
		}
		switch {
		case value != a.value || rec.sealed != a.enc:
			c.problem(s, "%s holds another value than the last acknowledged write", field)
		case !a.created.has(rec.created) || !a.modified.has(rec.modified) || rec.created > rec.modified:
			c.problem(s, "%s created %d modified %d, model %v %v", field, rec.created, rec.modified, a.created, a.modified)
		case a.expires == nil && rec.expires != 0, a.expires != nil && !a.expires.has(rec.expires):
			c.problem(s, "%s expires %d, model %v", field, rec.expires, a.expires)
		}
	}
	modelLive, modelUnsure := 0, 0
	for name, a := range s.attrs {
		switch a.stateIn(at) {
		case live:
			modelLive++
			if !seen[name] {
				c.problem(s, "acknowledged write of %s is missing", name)
			}
		case unsure:
			modelUnsure++
		}
	}
	if n := len(seen); n < modelLive || n > modelLive+modelUnsure {
		c.problem(s, "%d live attributes in Redis, the model has %d live and %d uncertain", n, modelLive, modelUnsure)
	}
	// The API must agree: nothing past its expiry is returned.
	entries, err := s.h.GetAll(ctx)
	if err != nil {
		c.problem(s, "GetAll: %v", err)
		return
	}
	after, err := redisNow(ctx, c.rdb)
	must(t, err)
	for name, e := range entries {
		if !e.Expires.IsZero() && e.Expires.UnixMilli() <= nowMS {
			c.problem(s, "GetAll returned %s, expired at %d (server time %d..%d)", name, e.Expires.UnixMilli(), nowMS, after)
		}
	}
}
