package attrcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/format"
)

// TestLargeCreateReadsOnlyWhatItMust: a create of CREATEREAD names or
// more reads its records only from a hash whose counters show any. Two
// copies of a session, one written by write.lua as it is and one by a
// copy that always reads the records, on a Redis whose clock the test
// holds and moves, must answer every batch alike and hold the same
// fields: batches into an empty session, over live, expired and
// reclaimed records, refused and applied.
func TestLargeCreateReadsOnlyWhatItMust(t *testing.T) {
	mr, rdb, st := miniStore(t)
	ctx := context.Background()
	const createRead = 8 // write.lua's CREATEREAD
	const always = "local CREATEREAD = 1e9"
	if !strings.Contains(writeLua, "local CREATEREAD = 8") {
		t.Fatal("write.lua no longer sets CREATEREAD to 8")
	}
	ref := redis.NewScript(libLua + strings.Replace(writeLua, "local CREATEREAD = 8", always, 1) + "\nreturn write(KEYS, ARGV)\n")

	now := time.Now().Truncate(time.Millisecond)
	mr.SetTime(now)
	rng := rand.New(rand.NewPCG(3, 4))
	skipped := 0
	for round := range 6 {
		a, err := st.Start(ctx, fmt.Sprintf("sid-create-read-%d", round), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		b := st.Session(fmt.Sprintf("sid-create-read-%d-twin", round))
		copyHash(ctx, t, rdb, a.keys[0], b.keys[0])
		for step := range 8 {
			if rng.IntN(3) == 0 {
				now = now.Add(time.Duration(1+rng.IntN(3)) * time.Second)
				mr.SetTime(now)
			}
			n := createRead + rng.IntN(5)
			if step > 0 && rng.IntN(4) == 0 {
				n = 2 + rng.IntN(createRead-2) // below it: the records are read first
			}
			attrs := make([]Attr, n)
			perm := rng.Perm(24)
			for i := range attrs {
				attrs[i] = Attr{Name: fmt.Sprintf("n%d", perm[i]), Value: []byte("v")}
			}
			var opts []WriteOption
			if rng.IntN(2) == 0 {
				opts = append(opts, WithExpiration(time.Duration(1+rng.IntN(3))*time.Second))
			}
			items, err := a.items(nil, attrs, opts, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.stamp(ctx, items); err != nil {
				t.Fatal(err)
			}
			c := call{}
			args, err := a.writeArgs(&c, items, modeCreate)
			if err != nil {
				t.Fatal(err)
			}
			args, meta := shareMeta(args)
			count0 := a.counted(ctx, t, rdb)
			rep, err := a.runWrite(ctx, &c, modeCreate, args, meta)
			if err != nil {
				t.Fatalf("round %d step %d: %v", round, step, err)
			}
			if n >= createRead && count0 == 0 {
				skipped++
			}
			raw, err := ref.Run(ctx, rdb, []string{b.keys[0], b.keys[1]}, args...).Slice()
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(rep.Code, rep.Strings(0))
			var names []string
			for _, x := range raw[2:] {
				if s, ok := x.(string); ok {
					names = append(names, s)
				}
			}
			if want := fmt.Sprint(raw[0], names); got != want {
				t.Fatalf("round %d step %d: reply %s, reading every record %s", round, step, got, want)
			}
			if d := twinDiff(ctx, t, rdb, a.keys[0], b.keys[0]); d != "" {
				t.Fatalf("round %d step %d: the hashes differ:%s", round, step, d)
			}
		}
	}
	if skipped < 6 {
		t.Errorf("only %d batches went into an empty hash", skipped)
	}
}

// counted returns the attribute count the session's marker holds.
func (o *owner) counted(ctx context.Context, t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	m, err := format.ParseMarker(rdb.HGet(ctx, o.keys[0], format.MarkerField).Val())
	if err != nil {
		t.Fatal(err)
	}
	return m.Count
}
