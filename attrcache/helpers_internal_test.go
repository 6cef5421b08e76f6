package attrcache

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
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
