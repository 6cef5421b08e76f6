package rueidisstore_test

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/rueidisstore"
	"github.com/attrcache/attrcache/test/suite"
)

// miniClient returns a rueidis client on miniredis: without client-side
// caching, which miniredis lacks, and as a single client, since miniredis
// answers CLUSTER SLOTS.
func miniClient(t testing.TB, mr *miniredis.Miniredis) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestBehaviour runs the behaviour suite on miniredis, the Stores under
// test on rueidis (EVALSHA: miniredis has no Functions), the raw checks
// and the Stores beside them on go-redis.
func TestBehaviour(t *testing.T) {
	mr := miniredis.RunT(t)
	c := miniClient(t, mr)
	b := suite.Miniredis(t, mr)
	b.Store = func(t testing.TB, opts ...attrcache.Option) *attrcache.Store {
		st, err := rueidisstore.New(c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	suite.Run(t, b)
}
