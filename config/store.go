package config

import (
	"log/slog"

	"github.com/attrcache/attrcache/attrcache"
)

// StoreOptions returns the attrcache.New options the attrcache.* settings
// describe: WithNamespace and WithLimits, WithReplicaWait when replicas
// are awaited, and WithLogger when logger is
// not nil. An empty namespace leaves the library default. The cipher is
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
	if logger != nil {
		opts = append(opts, attrcache.WithLogger(logger))
	}
	return opts
}

// AttrcacheLimits returns l as attrcache.Limits; zero fields stay zero,
// which attrcache reads as its defaults.
func (l Limits) AttrcacheLimits() attrcache.Limits {
	return attrcache.Limits{
		MaxNameBytes:  l.MaxNameBytes,
		MaxValueBytes: l.MaxValueBytes,
		MaxAttributes: l.MaxAttributes,
		MaxBatch:      l.MaxBatch,
	}
}
