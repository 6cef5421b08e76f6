package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// tripCounter is a rueidis client that counts round trips: each Do,
// DoMulti and DoCache that reaches Redis (a cache hit does not), with the
// name of the first command sent.
type tripCounter struct {
	rueidis.Client
	mu    sync.Mutex
	trips []string
}

func (c *tripCounter) note(cmd []string) {
	c.mu.Lock()
	c.trips = append(c.trips, strings.ToLower(cmd[0]))
	c.mu.Unlock()
}

func (c *tripCounter) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.note(cmd.Commands())
	return c.Client.Do(ctx, cmd)
}

func (c *tripCounter) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.note(cmds[0].Commands())
	return c.Client.DoMulti(ctx, cmds...)
}

func (c *tripCounter) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	name := cmd.Commands()[0]
	r := c.Client.DoCache(ctx, cmd, ttl)
	if !r.IsCacheHit() {
		c.note([]string{name})
	}
	return r
}

func (c *tripCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.trips
	c.trips = nil
	return t
}

// TestRueidisOneRoundTrip: on rueidis, every call is one round trip (a
// write's fence travels in it), writes are scripts, reads are plain
// commands, and a read the cache answers makes none; the suite's
// OneRoundTrip counts go-redis commands and skips on rueidis.
func TestRueidisOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	for _, near := range []bool{false, true} {
		t.Run(cacheName(near), func(t *testing.T) {
			c := &tripCounter{Client: newRueidis(t, rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: !near})}
			st := newRueidisStore(t, c, attrcache.WithCipher(suite.TinkCipher(t)))
			ctx := testCtx(t, 60*time.Second)
			batch := make([]attrcache.Attr, 100)
			names := make([]string, 100)
			expiries := map[string]time.Duration{}
			for i := range batch {
				names[i] = fmt.Sprintf("m%03d", i)
				batch[i] = attrcache.Attr{Name: names[i], Value: []byte("value")}
				expiries[names[i]] = time.Minute
			}
			var s *attrcache.Session
			calls := []struct {
				name string
				read bool
				fn   func() error
			}{
				{"Start", false, func() error { var err error; s, err = st.Start(ctx, "sid-"+randHex(8), time.Hour); return err }},
				{"Create", false, func() error { return s.Create(ctx, "one", []byte("1"), attrcache.WithEncryption()) }},
				{"CreateMany(100)", false, func() error { return s.CreateMany(ctx, batch, attrcache.WithEncryption()) }},
				{"Set", false, func() error { return s.Set(ctx, "one", []byte("2")) }},
				{"SetMany(100)", false, func() error { return s.SetMany(ctx, batch) }},
				{"Update", false, func() error { return s.Update(ctx, "one", []byte("3")) }},
				{"UpdateMany(100)", false, func() error { return s.UpdateMany(ctx, batch) }},
				{"Get", true, func() error { _, err := s.Get(ctx, "one"); return err }},
				{"GetMany(100)", true, func() error { _, err := s.GetMany(ctx, names); return err }},
				{"GetAll", true, func() error { _, err := s.GetAll(ctx); return err }},
				{"Exists", true, func() error { _, err := s.Exists(ctx, "one"); return err }},
				{"Names", true, func() error { _, err := s.Names(ctx); return err }},
				{"Get again", true, func() error { _, err := s.Get(ctx, "one"); return err }},
				{"SetExpiry", false, func() error { return s.SetExpiry(ctx, "one", time.Minute) }},
				{"SetExpiryMany(100)", false, func() error { return s.SetExpiryMany(ctx, expiries) }},
				{"Delete", false, func() error { return s.Delete(ctx, "one") }},
				{"DeleteMany(100)", false, func() error { return s.DeleteMany(ctx, names) }},
				{"Renew", false, func() error { _, err := s.Renew(ctx, time.Hour); return err }},
				{"End", false, func() error { return s.End(ctx) }},
			}
			// The first pass loads the library and samples the clock.
			for pass := range 2 {
				for _, call := range calls {
					c.take()
					if err := call.fn(); err != nil {
						t.Fatalf("pass %d %s: %v", pass, call.name, err)
					}
					trips := c.take()
					if pass == 0 {
						continue
					}
					switch {
					case !call.read && (len(trips) != 1 || trips[0] != "fcall"):
						t.Errorf("%s made round trips %q, want one FCALL", call.name, trips)
					case call.read && len(trips) > 1:
						t.Errorf("%s made round trips %q, want at most one", call.name, trips)
					case call.read && len(trips) == 1 && trips[0] != "hmget" && trips[0] != "hgetall":
						t.Errorf("%s sent %s, want a plain read", call.name, trips[0])
					case call.name == "Get again" && near && len(trips) != 0:
						t.Errorf("a Get of an unchanged session made round trips %q with the cache on", trips)
					}
				}
			}
		})
	}
}
