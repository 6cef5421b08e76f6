package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config/internal/rueidishook"
)

// UsesRueidis reports whether redis.client selects rueidis.
func (r *Redis) UsesRueidis() bool { return strings.EqualFold(r.Client, ClientRueidis) }

// ErrNoRueidis is returned by OpenStore for redis.client rueidis in a
// binary that does not link package rueidisconfig.
var ErrNoRueidis = errors.New(`config: redis.client rueidis needs package rueidisconfig: import _ "github.com/attrcache/attrcache/config/rueidisconfig"`)

// withRueidis is what OpenStore returns beside a Store on rueidis: a
// go-redis client of the same settings, for the raw commands a caller
// may send (go-redis dials only when it is used), whose Close closes the
// Store's rueidis client too.
type withRueidis struct {
	redis.UniversalClient
	close func()
}

func (w withRueidis) Close() error {
	w.close()
	return w.UniversalClient.Close()
}

// openRueidis is OpenStore on rueidis. The settings map onto rueidis so:
// the addresses, the ACL user and password, the database, TLS and
// redis.dial_timeout on every shape (with Sentinel, the sentinels' user
// and password and TLS too); a single node is never probed for a
// cluster. redis.client_side_cache.enabled turns rueidis's cache on, on
// every shape and database, with max_bytes for each node; max_entries
// and max_staleness are go-redis's (rueidisstore keeps an entry at most
// rueidisstore.CacheTTL). redis.read_timeout, write_timeout, pool_size
// and max_retries are go-redis's too: rueidis pipelines on one
// connection per node, every call ends at attrcache's call timeout, reads
// are retried within it, and the Store resends writes whose reply was
// lost.
func (c *Config) openRueidis(ctx context.Context, logger *slog.Logger) (*attrcache.Store, redis.UniversalClient, error) {
	if rueidishook.Open == nil {
		return nil, nil, ErrNoRueidis
	}
	p := &problems{c: c}
	ep, tlsConf := c.checkRedis(p)
	if len(p.errs) > 0 {
		return nil, nil, errors.Join(p.errs...)
	}
	opts, err := c.storeOptionsWithCipher(logger)
	if err != nil {
		return nil, nil, err
	}
	rdb := c.newClient(ep, tlsConf)
	r := &c.Redis
	s := rueidishook.Settings{
		Mode:             r.ResolvedMode(),
		Addrs:            ep.dialAddrs(),
		Username:         ep.username,
		Password:         ep.password,
		DB:               ep.db,
		TLS:              tlsConf,
		MasterName:       r.MasterName,
		SentinelUsername: ep.sentinelUsername,
		SentinelPassword: ep.sentinelPassword,
		DialTimeout:      r.DialTimeout,
		Cache:            r.ClientSideCache.Enabled,
		CacheBytes:       r.ClientSideCache.MaxBytes,
	}
	o, dialed, err := rueidishook.Open(ctx, s, opts)
	if err != nil {
		_ = rdb.Close()
		if dialed {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		return nil, nil, c.dialError(err, ", rueidis")
	}
	return o.Store, withRueidis{UniversalClient: rdb, close: o.Close}, nil
}
