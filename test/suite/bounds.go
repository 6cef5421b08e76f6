package suite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/inspect"
)

// wantCounted checks, through inspect, that the session's counters equal
// what its hash holds.
func wantCounted(t *testing.T, b Backend, s *attrcache.Session, what string) *inspect.Info {
	t.Helper()
	info, err := inspect.Read(ctx, b.Client, s.Key(), time.Now().UnixMilli())
	must(t, err)
	if info.Counted != info.Stored || info.CountedBytes != info.StoredBytes {
		t.Fatalf("%s: the session counts %d attributes of %d bytes, its hash holds %d of %d bytes",
			what, info.Counted, info.CountedBytes, info.Stored, info.StoredBytes)
	}
	return info
}

// testByteLimits refuses a call over MaxCallBytes before it is sent, and
// a write that would take the session over MaxSessionBytes in the script,
// with nothing written either way.
func testByteLimits(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithLimits(attrcache.Limits{MaxValueBytes: 100, MaxCallBytes: 250, MaxSessionBytes: 500}))
	s := start(t, st, time.Hour)
	val := v(strings.Repeat("v", 100))
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: val}, {Name: "b", Value: val}}))
	before := snapshot(t, b, s.Key())
	err := s.SetMany(ctx, []attrcache.Attr{{Name: "c", Value: val}, {Name: "d", Value: val}, {Name: "e", Value: val}})
	wantErr(t, "SetMany over MaxCallBytes", err, attrcache.ErrInvalid)
	if !strings.Contains(err.Error(), "MaxCallBytes") {
		t.Fatalf("the error does not name the limit: %v", err)
	}
	sameSnapshot(t, "a call over MaxCallBytes", before, snapshot(t, b, s.Key()))

	// Two attributes of 1 + 19 + 100 bytes are stored; three more would
	// pass 500.
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "c", Value: val}, {Name: "d", Value: val}}))
	before = snapshot(t, b, s.Key())
	err = s.Create(ctx, "e", val)
	wantErr(t, "Create past MaxSessionBytes", err, attrcache.ErrTooBig)
	sameSnapshot(t, "a write past MaxSessionBytes", before, snapshot(t, b, s.Key()))
	// Replacing with a smaller value, and deleting, always work.
	must(t, s.Set(ctx, "a", v("small")))
	must(t, s.Create(ctx, "e", v("fits now")))
	wantCounted(t, b, s, "after byte-limited writes")
}

// testCounters runs every kind of write, expiry and reclaim, and checks
// after each that the session's counters equal what its hash holds.
func testCounters(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s := start(t, st, time.Hour)
	steps := []struct {
		what string
		do   func() error
	}{
		{"Create", func() error { return s.Create(ctx, "a", v("1")) }},
		{"CreateMany", func() error {
			return s.CreateMany(ctx, []attrcache.Attr{{Name: "b", Value: v("22")}, {Name: "c", Value: v("333")}}, attrcache.WithEncryption())
		}},
		{"Set (replace, longer)", func() error { return s.Set(ctx, "a", v("1111111111")) }},
		{"SetMany (one new)", func() error {
			return s.SetMany(ctx, []attrcache.Attr{{Name: "a", Value: v("x")}, {Name: "d", Value: v("dd")}})
		}},
		{"Update", func() error { return s.Update(ctx, "b", v("b"), attrcache.WithExpiration(100*time.Millisecond)) }},
		{"SetExpiry", func() error { return s.SetExpiry(ctx, "c", 100*time.Millisecond) }},
		{"Delete", func() error { return s.Delete(ctx, "d") }},
		{"Delete absent", func() error { return s.Delete(ctx, "zz") }},
		{"expiry, then a write that reclaims", func() error {
			b.Advance(200 * time.Millisecond)
			return s.Set(ctx, "e", v("e"))
		}},
		{"Create over an expired name", func() error { return s.Create(ctx, "b", v("again")) }},
		{"DeleteMany", func() error { return s.DeleteMany(ctx, []string{"a", "b", "e"}) }},
	}
	for _, step := range steps {
		must(t, step.do())
		wantCounted(t, b, s, "after "+step.what)
	}
	info := wantCounted(t, b, s, "at the end")
	if info.Stored != 0 {
		t.Fatalf("%d attributes left, want 0: %v", info.Stored, info.Attributes)
	}
}

// testReclaim leaves expired attributes behind and checks that writes
// reclaim them a bounded number at a time: reads never, writes always
// make progress, and nothing live is lost.
func testReclaim(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	var batch []attrcache.Attr
	for i := range 300 {
		batch = append(batch, attrcache.Attr{Name: fmt.Sprintf("gone%03d", i), Value: v("x")})
	}
	must(t, s.CreateMany(ctx, batch, attrcache.WithExpiration(100*time.Millisecond)))
	must(t, s.Create(ctx, "keep", v("1")))
	b.Advance(200 * time.Millisecond)
	names, err := s.Names(ctx)
	must(t, err)
	if len(names) != 1 {
		t.Fatalf("names %q, want only keep", names)
	}
	if info := wantCounted(t, b, s, "after the expiry"); info.Stored != 301 {
		t.Fatalf("reads reclaimed: %d stored", info.Stored)
	}
	// Each write reclaims a bounded step; a few hundred writes at most
	// reclaim everything.
	for i := 0; ; i++ {
		must(t, s.Set(ctx, "tick", v(fmt.Sprint(i))))
		info := wantCounted(t, b, s, "during the reclaim")
		if info.Stored == 2 {
			if !info.NextReclaim.IsZero() {
				t.Fatalf("every expiring record is gone but the next reclaim is due at %v", info.NextReclaim)
			}
			break
		}
		if i == 400 {
			t.Fatalf("400 writes left %d records", info.Stored)
		}
	}
	wantValue(t, s, "keep", "1")
}
