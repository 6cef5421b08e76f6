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
// retries are applied to every shape. NewClient does no I/O: go-redis
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

	switch r.ResolvedMode() {
	case ModeSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       r.MasterName,
			SentinelAddrs:    addrs,
			SentinelUsername: r.SentinelUsername,
			SentinelPassword: r.SentinelPassword.Value(),
			Username:         r.Username,
			Password:         r.Password.Value(),
			DB:               r.DB,
			TLSConfig:        tlsConf,
			DialTimeout:      r.DialTimeout,
			ReadTimeout:      r.ReadTimeout,
			WriteTimeout:     r.WriteTimeout,
			PoolSize:         r.PoolSize,
			MaxRetries:       retries,
		}), nil
	case ModeCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:        addrs,
			Username:     r.Username,
			Password:     r.Password.Value(),
			TLSConfig:    tlsConf,
			DialTimeout:  r.DialTimeout,
			ReadTimeout:  r.ReadTimeout,
			WriteTimeout: r.WriteTimeout,
			PoolSize:     r.PoolSize,
			MaxRetries:   retries,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr:         addrs[0],
			Username:     r.Username,
			Password:     r.Password.Value(),
			DB:           r.DB,
			TLSConfig:    tlsConf,
			DialTimeout:  r.DialTimeout,
			ReadTimeout:  r.ReadTimeout,
			WriteTimeout: r.WriteTimeout,
			PoolSize:     r.PoolSize,
			MaxRetries:   retries,
		}), nil
	}
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
