package attrcache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSharedMetaMatchesTriples: a batch whose attributes share one meta
// goes to write.lua as name, value per attribute, with the meta at the
// end of the call's argument (shareMeta). Two copies of a session, one written in that form and one
// in the per-attribute form, on a Redis whose clock the test holds, must
// answer alike and hold the same fields after every batch: creates,
// sets and updates, with and without an expiry, over new, live and
// expired records, refused ones included.
func TestSharedMetaMatchesTriples(t *testing.T) {
	mr, rdb, st := miniStore(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	mr.SetTime(now)
	a, err := st.Start(ctx, "sid-shared-meta", time.Hour, WithAttrs(Attr{Name: "x", Value: []byte("first")}))
	if err != nil {
		t.Fatal(err)
	}
	b := st.Session("sid-shared-meta-twin")
	copyHash(ctx, t, rdb, a.keys[0], b.keys[0])

	batch := func(names ...string) []Attr {
		out := make([]Attr, len(names))
		for i, n := range names {
			out[i] = Attr{Name: n, Value: []byte("v-" + n)}
		}
		return out
	}
	steps := []struct {
		mode  byte
		attrs []Attr
		opts  []WriteOption
		want  string // the status's name, for the test's own check
	}{
		{modeCreate, batch("a", "b", "c"), nil, "ok"},
		{modeCreate, batch("d", "a"), nil, "exists"},
		{modeSet, batch("a", "e", "f"), []WriteOption{WithExpiration(2 * time.Second)}, "ok"},
		{modeUpdate, batch("a", "b"), nil, "ok"},
		{modeUpdate, batch("b", "zz"), nil, "not found"},
		{modeSet, batch("e", "g"), []WriteOption{WithoutExpiration()}, "ok"},
		{modeCreate, batch("f", "h"), []WriteOption{WithExpiration(time.Minute)}, "ok"}, // f expired
		{modeSet, batch("a", "b", "c", "d"), nil, "ok"},
	}
	shared := 0
	for i, s := range steps {
		if i == 6 {
			now = now.Add(3 * time.Second)
			mr.SetTime(now)
		}
		var reps [2]any
		for j, o := range []*owner{&a.owner, &b.owner} {
			items, err := o.items(nil, s.attrs, s.opts, s.mode == modeCreate)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.stamp(ctx, items); err != nil {
				t.Fatal(err)
			}
			c := call{}
			args, err := o.writeArgs(&c, items, s.mode)
			if err != nil {
				t.Fatal(err)
			}
			var meta []byte
			if j == 0 {
				if args, meta = shareMeta(args); meta == nil {
					t.Fatalf("step %d: a batch of one meta was not shared", i)
				}
				shared++
			}
			rep, err := o.runWrite(ctx, &c, s.mode, args, meta)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			reps[j] = fmt.Sprint(rep.Code, rep.Strings(0))
			if got := o.statusError(rep); (got == nil) != (s.want == "ok") {
				t.Fatalf("step %d: %v, want %s", i, got, s.want)
			}
		}
		if reps[0] != reps[1] {
			t.Errorf("step %d: replies differ: shared %v, per attribute %v", i, reps[0], reps[1])
		}
		// The shared form first, then the per-attribute one.
		if d := twinDiff(ctx, t, rdb, a.keys[0], b.keys[0]); d != "" {
			t.Fatalf("step %d: the hashes differ:%s", i, d)
		}
	}
	if shared != len(steps) {
		t.Errorf("%d of %d batches went shared", shared, len(steps))
	}
	// Metas that differ keep the per-attribute form.
	items, err := a.items(nil, []Attr{{Name: "p", Value: []byte("1")}, {Name: "q", Value: []byte("2"), Options: []WriteOption{WithExpiration(time.Minute)}}}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	c := call{}
	args, err := a.writeArgs(&c, items, modeSet)
	if err != nil {
		t.Fatal(err)
	}
	if got, meta := shareMeta(args); meta != nil || len(got) != 7 {
		t.Errorf("a batch of two metas was rewritten: meta %v, %d arguments", meta != nil, len(got))
	}
}
