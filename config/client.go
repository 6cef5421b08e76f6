package config

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// Errors of Connect, checked with errors.Is. Each wraps the go-redis error
// too, whose text names addresses (host:port) but no password.
var (
	// ErrUnreachable is wrapped by Connect's error when Redis (or every
	// sentinel) could not be reached or did not answer PING, for a
	// reason other than the credentials.
	ErrUnreachable = errors.New("config: redis unreachable")
	// ErrAuth is wrapped by Connect's error when Redis or a sentinel
	// refused the credentials: a wrong or missing redis.username,
	// redis.password (or the user and password of a redis.addrs URL),
	// or, with Sentinel, redis.sentinel_username and
	// redis.sentinel_password.
	ErrAuth = errors.New("config: redis authentication failed")
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
// With redis.client_side_cache.enabled, a single-node client on database
// 0 speaks RESP3 and caches reads in an attrcache.NearCache; other shapes
// do not cache (see Warnings).
//
// URLs in redis.addrs are read as Addrs describes. TLS, the ACL user and
// password, the database, timeouts, pool size and retries are applied to
// every shape, and context deadlines are honoured
// (ContextTimeoutEnabled). NewClient does no I/O: go-redis connects on
// first use (see Connect). It returns the redis.* problems of Validate,
// if any. The caller closes the client.
func (c *Config) NewClient() (redis.UniversalClient, error) {
	p := &problems{c: c}
	ep, tlsConf := c.checkRedis(p)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c.newClient(ep, tlsConf), nil
}

// newClient is NewClient on settings checkRedis resolved.
func (c *Config) newClient(ep endpoint, tlsConf *tls.Config) redis.UniversalClient {
	r := &c.Redis
	addrs := ep.dialAddrs()
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
		Username:     ep.username,
		Password:     ep.password,
		DB:           ep.db,
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
		opts.SentinelUsername = ep.sentinelUsername
		opts.SentinelPassword = ep.sentinelPassword
	case ModeCluster:
		opts.IsClusterMode = true
		opts.DB = 0
	default:
		opts.Addrs = addrs[:1]
		if cc := r.ClientSideCache; cc.Enabled && ep.db == 0 {
			// go-redis caches on RESP3 only.
			opts.Protocol = 3
			opts.ClientSideCache = attrcache.NewNearCache(redis.CacheConfig{
				MaxEntries:     cc.MaxEntries,
				MaxMemoryBytes: int64(cc.MaxBytes),
				MaxStaleness:   cc.MaxStaleness,
			})
		}
	}
	return redis.NewUniversalClient(opts)
}

// RedisAddrs returns the addresses NewClient dials, as host:port: those
// of redis.addrs, URLs reduced to their host and port, or DefaultAddr
// when none is configured. With Sentinel they are the sentinels'. They
// hold no credentials, so they are safe to print; an item that cannot be
// read shows as Addrs.Redacted shows it.
func (c *Config) RedisAddrs() []string {
	if len(c.Redis.Addrs) == 0 {
		return []string{DefaultAddr}
	}
	p := &problems{c: c}
	ep := c.resolveRedis(p)
	if len(p.errs) > 0 || len(ep.addrs) != len(c.Redis.Addrs) {
		return c.Redis.Addrs.Redacted()
	}
	return ep.addrs
}

// Connect is NewClient followed by a PING, so a service can refuse to
// start when Redis is unreachable or refuses the credentials. On error
// the client is closed and nil is returned; the error wraps ErrAuth when
// the credentials were refused and ErrUnreachable otherwise, names the
// addresses (see RedisAddrs) and the mode, and wraps the go-redis error.
func (c *Config) Connect(ctx context.Context) (redis.UniversalClient, error) {
	rdb, err := c.NewClient()
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, c.dialError(err, "")
	}
	return rdb, nil
}

// dialError is the error of a client that could not talk to Redis: it
// wraps ErrAuth, naming the settings to check, when the credentials were
// refused, and ErrUnreachable otherwise, with the addresses, the mode and
// client (such as ", rueidis"; "" for go-redis), and err.
func (c *Config) dialError(err error, client string) error {
	where := fmt.Sprintf("%s (%s%s)", strings.Join(c.RedisAddrs(), ","), c.Redis.ResolvedMode(), client)
	if authFailed(err) {
		return fmt.Errorf("%w at %s; check %s: %w", ErrAuth, where, c.credentialKeys(), err)
	}
	return fmt.Errorf("%w at %s: %w", ErrUnreachable, where, err)
}

// authFailed reports whether err is Redis refusing the credentials:
// go-redis's own test (NOAUTH, WRONGPASS), and the replies of servers
// that have no password set or predate ACLs. A sentinel's refusal reaches
// us inside go-redis's own message, hence the search in the text.
func authFailed(err error) bool {
	if redis.IsAuthError(err) {
		return true
	}
	s := err.Error()
	for _, sign := range []string{"WRONGPASS", "NOAUTH", "ERR AUTH", "ERR invalid password", "ERR Client sent AUTH"} {
		if strings.Contains(s, sign) {
			return true
		}
	}
	return false
}

// credentialKeys names the settings an authentication failure points to.
func (c *Config) credentialKeys() string {
	keys := "redis.username and redis.password"
	if c.Redis.Addrs != nil && isURL(c.Redis.Addrs[0]) {
		keys += " (or the user and password in the redis.addrs URL)"
	}
	if c.Redis.ResolvedMode() == ModeSentinel {
		keys += ", and redis.sentinel_username and redis.sentinel_password"
	}
	return keys
}
