package attrcache_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/suite"
)

// TestBehaviour runs the behaviour suite on miniredis. Its clock is the
// real one, because reads judge expiry in Go against an estimate of
// Redis's clock: the suite waits for time to pass, and moves miniredis's
// key TTLs with it.
func TestBehaviour(t *testing.T) {
	mr := miniredis.RunT(t)
	newClient := func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) }
	rdb := newClient()
	t.Cleanup(func() { rdb.Close() })
	suite.Run(t, suite.Backend{
		Client:    rdb,
		NewClient: newClient,
		Advance: func(d time.Duration) {
			time.Sleep(d)
			mr.FastForward(d)
		},
	})
}

// TestEnvelopeBehaviour runs the encryption tests on miniredis with the
// envelope cipher of package keys, the cipher production code uses.
func TestEnvelopeBehaviour(t *testing.T) {
	mr := miniredis.RunT(t)
	newClient := func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) }
	rdb := newClient()
	t.Cleanup(func() { rdb.Close() })
	suite.RunEncryption(t, suite.Backend{
		Client:    rdb,
		NewClient: newClient,
		Advance: func(d time.Duration) {
			time.Sleep(d)
			mr.FastForward(d)
		},
		Cipher: func(t testing.TB) attrcache.Cipher {
			h, err := keys.Generate()
			if err != nil {
				t.Fatal(err)
			}
			e, err := keys.NewEnvelope(h)
			if err != nil {
				t.Fatal(err)
			}
			return e
		},
	})
}
