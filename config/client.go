package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// NewClient builds the go-redis client the redis.* settings describe:
//
//   - Sentinel (redis.master_name set): redis.NewFailoverClient with the
//     addresses as sentinels; the result is a *redis.Client that follows
//     the master.
//   - Cluster (several addresses, or redis.mode cluster): a
//     *redis.ClusterClient seeded with the addresses.
//   - Single node: a *redis.Client on the one address, or on DefaultAddr
//     when none is configured.
//
// TLS, the ACL user and password, the database, timeouts, pool size and
// retries are applied to every shape, and context deadlines are honoured
// (ContextTimeoutEnabled). NewClient does no I/O: go-redis
// connects on first use (see Connect). It returns the redis.* problems of
// Validate, if any. The caller closes the client.
func (c *Config) NewClient() (redis.UniversalClient, error) {
	p := &problems{c: c}
	tlsConf := c.checkRedis(p)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}

	r := &c.Redis
	addrs := r.Addrs
	if len(addrs) == 0 {
		addrs = []string{DefaultAddr}
	}
	// go-redis reads MaxRetries 0 as "default (3)" and -1 as "none";
	// here 0 means none.
	retries := r.MaxRetries
	if retries == 0 {
		retries = -1
	}

	// go-redis picks the shape from the options as the comment above
	// says; only the fields of the chosen mode are set, so an explicit
	// mode always wins.
	opts := &redis.UniversalOptions{
		Addrs:        addrs,
		Username:     r.Username,
		Password:     r.Password.Value(),
		DB:           r.DB,
		TLSConfig:    tlsConf,
		DialTimeout:  r.DialTimeout,
		ReadTimeout:  r.ReadTimeout,
		WriteTimeout: r.WriteTimeout,
		PoolSize:     r.PoolSize,
		MaxRetries:   retries,
		// Without it go-redis ignores context deadlines on reads and
		// writes; attrcache callers rely on them to bound a call.
		ContextTimeoutEnabled: true,
	}
	switch r.ResolvedMode() {
	case ModeSentinel:
		opts.MasterName = r.MasterName
		opts.SentinelUsername = r.SentinelUsername
		opts.SentinelPassword = r.SentinelPassword.Value()
	case ModeCluster:
		opts.IsClusterMode = true
		opts.DB = 0
	default:
		opts.Addrs = addrs[:1]
	}
	return redis.NewUniversalClient(opts), nil
}

// Connect is NewClient followed by a PING, so a service can refuse to
// start when Redis is unreachable or refuses the credentials. On error
// the client is closed and nil is returned.
func (c *Config) Connect(ctx context.Context) (redis.UniversalClient, error) {
	rdb, err := c.NewClient()
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("config: ping redis (%s): %w", c.Redis.ResolvedMode(), err)
	}
	return rdb, nil
}
