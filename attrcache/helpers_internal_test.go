package attrcache

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/format"
)

// miniStore starts a miniredis for the test and returns it, a client on
// it and a Store of default options on that client; all end with the
// test.
func miniStore(t *testing.T) (*miniredis.Miniredis, *redis.Client, *Store) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	return mr, rdb, st
}

// copyHash makes the hash at to a twin of the one at from: the same
// fields and TTL.
func copyHash(ctx context.Context, t *testing.T, rdb *redis.Client, from, to string) {
	t.Helper()
	all, err := rdb.HGetAll(ctx, from).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range all {
		rdb.HSet(ctx, to, f, v)
	}
	rdb.PExpire(ctx, to, rdb.PTTL(ctx, from).Val())
}

// twinDiff compares two twin hashes after the same writes sent as
// different calls: all but the resend log and the marker's overflow note
// and expiry, which hold each call's own token and deadline. It returns
// "" when they agree, and both sides when they do not.
func twinDiff(ctx context.Context, t *testing.T, rdb *redis.Client, a, b string) string {
	t.Helper()
	ha, hb := rdb.HGetAll(ctx, a).Val(), rdb.HGetAll(ctx, b).Val()
	var ms [2]format.Marker
	for j, h := range []map[string]string{ha, hb} {
		var err error
		if ms[j], err = format.ParseMarker(h[format.MarkerField]); err != nil {
			t.Fatal(err)
		}
		ms[j].MovedAt, ms[j].OverflowExpires = 0, 0
		delete(h, format.LogField)
		delete(h, format.MarkerField)
	}
	if ms[0] != ms[1] || !reflect.DeepEqual(ha, hb) {
		return fmt.Sprintf("\n%+v %q\n%+v %q", ms[0], ha, ms[1], hb)
	}
	return ""
}
