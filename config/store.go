package config

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// StoreOptions returns the attrcache.New options the attrcache.* settings
// describe: WithNamespace and WithLimits, WithReplicaWait when replicas
// are awaited, WithCallTimeout, and WithLogger when
// logger is not nil. An empty namespace leaves the library default. The cipher is
// not among them; the caller adds attrcache.WithCipher.
func (c *Config) StoreOptions(logger *slog.Logger) []attrcache.Option {
	var opts []attrcache.Option
	if c.Store.Namespace != "" {
		opts = append(opts, attrcache.WithNamespace(c.Store.Namespace))
	}
	opts = append(opts, attrcache.WithLimits(c.Store.Limits.AttrcacheLimits()))
	if w := c.Store.ReplicaWait; w.Replicas > 0 {
		opts = append(opts, attrcache.WithReplicaWait(w.Replicas, w.Timeout))
	}
	if d := c.Store.CallTimeout; d > 0 {
		opts = append(opts, attrcache.WithCallTimeout(d))
	}
	if logger != nil {
		opts = append(opts, attrcache.WithLogger(logger))
	}
	return opts
}

// storeOptionsWithCipher is StoreOptions with attrcache.WithCipher when
// a keyset is configured: all the options OpenStore gives the Store.
func (c *Config) storeOptionsWithCipher(logger *slog.Logger) ([]attrcache.Option, error) {
	opts := c.StoreOptions(logger)
	cipher, err := c.NewCipher(logger)
	if err != nil {
		return nil, err
	}
	if cipher != nil {
		opts = append(opts, attrcache.WithCipher(cipher))
	}
	return opts, nil
}

// AttrcacheLimits returns l as attrcache.Limits; zero fields stay zero,
// which attrcache reads as its defaults.
func (l Limits) AttrcacheLimits() attrcache.Limits {
	return attrcache.Limits{
		MaxNameBytes:    l.MaxNameBytes,
		MaxValueBytes:   l.MaxValueBytes,
		MaxCallBytes:    l.MaxCallBytes,
		MaxSessionBytes: l.MaxSessionBytes,
		MaxAttributes:   l.MaxAttributes,
		MaxBatch:        l.MaxBatch,
	}
}

// OpenStore is what a service does at start-up, in one call: Connect
// (NewClient and PING), NewCipher, attrcache.New with StoreOptions and the
// cipher, and Store.Ping, the readiness check (Redis answers, the scripts
// load, every master of a cluster answers). On error nothing is left
// open. The caller closes the client when done with the store.
//
// With redis.client rueidis, the Store runs on a rueidis client of the
// same settings through rueidisstore.New instead, which needs package
// config/rueidisconfig linked in (ErrNoRueidis otherwise). The client
// returned is still a go-redis client of the same settings, for raw
// commands (it dials only if used); closing it closes the Store's
// rueidis client too.
func (c *Config) OpenStore(ctx context.Context, logger *slog.Logger) (*attrcache.Store, redis.UniversalClient, error) {
	if c.Redis.UsesRueidis() {
		return c.openRueidis(ctx, logger)
	}
	rdb, err := c.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	opts, err := c.storeOptionsWithCipher(logger)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	store, err := attrcache.New(rdb, opts...)
	if err == nil {
		err = store.Ping(ctx)
	}
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return store, rdb, nil
}
