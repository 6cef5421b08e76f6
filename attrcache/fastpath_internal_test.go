package attrcache

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/backend"
)

// TestWriteFastPathMatchesWriteall: write.lua's write takes the common
// one-attribute call itself and hands the rest to writeall. Two copies of
// the same sessions, one written through write and one through writeall
// alone, on a Redis whose clock the test holds still and moves, must
// answer every call alike and hold the same fields, overflow and TTLs
// after it: creates, sets, updates, incrs, expiries and deletes, sealed
// and plain, with and without expiries of their own, resends, calls
// late or ahead of the clock, limits hit, records expiring and reclaimed,
// logs filling up and calls going to the overflow.
func TestWriteFastPathMatchesWriteall(t *testing.T) {
	mr, rdb, st := miniStore(t)
	ctx := context.Background()
	// The fast script counts the calls write hands on to writeall.
	i := strings.Index(writeLua, "local function write(keys, argv)")
	counted := strings.NewReplacer("return writeall(keys, argv, now, r)",
		"redis.call('INCR', 'test:handed-on') return writeall(keys, argv, now, r)",
		"nmoved, nov = overflow(keys[2], token, dl, now, moved, ovfexp)",
		"redis.call('INCR', 'test:overflowed') nmoved, nov = overflow(keys[2], token, dl, now, moved, ovfexp)").Replace(writeLua[i:])
	counted = writeLua[:i] + counted
	fast := redis.NewScript(libLua + counted + "\nreturn write(KEYS, ARGV)\n")
	ref := redis.NewScript(libLua + writeLua + "\nreturn writeall(KEYS, ARGV)\n")

	// Sessions started through the Store, each copied to a twin.
	type pair struct{ a, b [2]string }
	var pairs []pair
	for i := range 4 {
		s, err := st.Start(ctx, fmt.Sprintf("sid-fast-%d", i), time.Hour, WithAttrs(Attr{Name: "a", Value: []byte("first")}))
		if err != nil {
			t.Fatal(err)
		}
		a := [2]string{s.keys[0], s.keys[1]}
		b := [2]string{a[0] + "-twin", a[1] + "-twin"}
		copyHash(ctx, t, rdb, a[0], b[0])
		pairs = append(pairs, pair{a, b})
	}

	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().Truncate(time.Millisecond)
	mr.SetTime(now)
	type sent struct{ c []byte }
	var past []sent
	names := []string{"a", "b", "c", "n"}
	fastRuns := 0
	seen := map[int64]int{}  // statuses of one-attribute calls
	short := 0               // OKs that write answered in one string
	burst, bp := 0, pairs[0] // a burst: calls on one session, the clock all but still
	for step := range 4000 {
		p := pairs[rng.IntN(len(pairs))]
		if burst == 0 && rng.IntN(60) == 0 {
			burst, bp = 10+rng.IntN(30), p
		}
		if burst > 0 {
			p = bp
		}
		nowMs := now.UnixMilli()

		// The call: mostly fresh, sometimes a resend, ahead of the clock
		// or past its deadline.
		var c []byte
		if len(past) > 0 && rng.IntN(10) == 0 {
			c = past[max(0, len(past)-1-rng.IntN(8))].c
		} else {
			c = make([]byte, 30)
			binary.LittleEndian.PutUint64(c[:8], rng.Uint64())
			t0, dl := nowMs-int64(rng.IntN(50)), nowMs+1+int64(rng.IntN(100))
			if burst > 0 || rng.IntN(20) == 0 {
				dl = nowMs + int64(rng.IntN(2000))
			}
			switch rng.IntN(40) { // at and just past the bounds
			case 0:
				t0 = nowMs + 1
			case 1:
				t0 = nowMs
			case 2:
				dl = nowMs - 1
			case 3:
				dl = nowMs
			}
			put48(c[8:14], t0)
			put48(c[14:20], dl)
			c[20] = "csuixd"[rng.IntN(6)]
			c[21] = 's'
			maxn, maxb := uint32(1000), uint32(1<<20)
			if rng.IntN(15) == 0 {
				maxn = 3
			}
			if rng.IntN(15) == 0 {
				maxb = 60
			}
			binary.BigEndian.PutUint32(c[22:26], maxn)
			binary.BigEndian.PutUint32(c[26:30], maxb)
			past = append(past, sent{c})
		}
		mode := c[20]
		args := []any{c}
		attrs := 1
		if rng.IntN(10) == 0 {
			attrs = 2 // a batch: writeall's either way
		}
		for range attrs {
			name := names[rng.IntN(len(names))]
			switch mode {
			case modeDelete:
				args = append(args, name)
			case modeExpire:
				var e [6]byte
				put48(e[:], int64(1+rng.IntN(3000)))
				args = append(args, name, e[:])
			default:
				meta := make([]byte, 7)
				if rng.IntN(4) == 0 {
					meta[0] |= 64 // sealed
				}
				switch rng.IntN(4) {
				case 0:
					put48(meta[1:], keepExpiry)
				case 1:
					meta[0] |= 1 // relative
					put48(meta[1:], int64(50+rng.IntN(3000)))
				case 2:
					put48(meta[1:], nowMs+int64(rng.IntN(3000))) // absolute
				}
				value := []byte(strconv.Itoa(rng.IntN(200) - 100))
				if mode != modeIncr && rng.IntN(2) == 0 {
					value = []byte(fmt.Sprintf("value-%d", rng.IntN(1000)))
				}
				if attrs == 1 && rng.IntN(8) != 0 {
					// The meta at the end of the call's argument, as
					// shareMeta sends it; sometimes (and for a resend of a
					// call of another mode) the per-attribute form.
					if len(c) == 30 {
						c = append(c[:30:30], meta...)
						args[0] = c
					}
					args = append(args, name, value)
				} else {
					args = append(args, name, meta, value)
				}
			}
		}

		ra, ea := fast.Run(ctx, rdb, p.a[:], args...).Result()
		rb, eb := ref.Run(ctx, rdb, p.b[:], args...).Result()
		if _, ok := rb.(string); ok {
			t.Fatalf("step %d: writeall answered a string", step)
		}
		if s, ok := ra.(string); ok {
			// write's OK in one string: the same as writeall's table.
			rep, err := backend.ShortReply(s)
			if err != nil {
				t.Fatalf("step %d: write answered %q: %v", step, s, err)
			}
			l := []any{rep.Code, rep.Now}
			for i := range rep.Len() {
				l = append(l, rep.Val(i).N)
			}
			ra = l
			short++
		}
		if fmt.Sprint(ea) != fmt.Sprint(eb) || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("step %d, mode %c, %d attribute(s): write answered %v (%v), writeall %v (%v)", step, mode, attrs, ra, ea, rb, eb)
		}
		if attrs == 1 {
			fastRuns++
			if l, ok := ra.([]any); ok && len(l) > 0 {
				if code, ok := l[0].(int64); ok {
					seen[code]++
				}
			}
		}
		ha, hb := rdb.HGetAll(ctx, p.a[0]).Val(), rdb.HGetAll(ctx, p.b[0]).Val()
		if !reflect.DeepEqual(ha, hb) {
			t.Fatalf("step %d, mode %c: the hashes differ after a call answered %v:\nwrite    %q\nwriteall %q", step, mode, ra, ha, hb)
		}
		oa := rdb.ZRangeWithScores(ctx, p.a[1], 0, -1).Val()
		ob := rdb.ZRangeWithScores(ctx, p.b[1], 0, -1).Val()
		if !reflect.DeepEqual(oa, ob) {
			t.Fatalf("step %d, mode %c: the overflows differ: %v and %v", step, mode, oa, ob)
		}
		if ta, tb := rdb.PTTL(ctx, p.a[1]).Val(), rdb.PTTL(ctx, p.b[1]).Val(); ta != tb {
			t.Fatalf("step %d: the overflows' TTLs differ: %v and %v", step, ta, tb)
		}

		// The clock: mostly a few ms, sometimes past every log entry's
		// deadline and many records' expiry, now and then past the
		// overflow's note.
		d := time.Duration(rng.IntN(40)) * time.Millisecond
		switch rng.IntN(100) {
		case 0:
			d = 30 * time.Second // MAXW: an overflow note just too old
		case 5:
			d = 31 * time.Second
		case 1, 2, 3, 4:
			d = time.Duration(500+rng.IntN(3000)) * time.Millisecond
		}
		if burst > 0 {
			burst--
			d = time.Duration(rng.IntN(2)) * time.Millisecond
		}
		now = now.Add(d)
		mr.SetTime(now)
	}
	handed, _ := rdb.Get(ctx, "test:handed-on").Int()
	overflowed, _ := rdb.Get(ctx, "test:overflowed").Int()
	t.Logf("statuses of %d one-attribute calls (%d handed on to writeall; %d sent to the overflow by a full log): %v",
		fastRuns, handed, overflowed, seen)
	if overflowed < 50 {
		t.Errorf("write sent only %d calls to the overflow", overflowed)
	}
	if short < 1000 {
		t.Errorf("write answered only %d OKs in one string", short)
	}
	if fastRuns-handed < 1500 {
		t.Errorf("write took only %d of %d one-attribute calls itself", fastRuns-handed, fastRuns)
	}
	for _, code := range []int64{0, 2, 3, 5, 7, 8, 9, 10, 11, 15} {
		if seen[code] == 0 {
			t.Errorf("no one-attribute call answered status %d", code)
		}
	}
}
