package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/internal/cli"
	"github.com/attrcache/attrcache/internal/inspect"
)

// conn is what a command works with: the configuration, the client built
// from it, and a Store with the application's namespace and limits.
type conn struct {
	cfg    *config.Config
	rdb    redis.UniversalClient
	store  *attrcache.Store
	cipher bool // a keyset is configured and loaded
}

// connect loads the configuration and connects. The keyset is loaded only
// when withCipher is set, so that a command that does not need it (end,
// purge, stats) is not stopped by a keyset problem.
func (c *invocation) connect(ctx context.Context, withCipher bool) (*conn, error) {
	cfg, err := config.Load(c.configPath)
	if err != nil {
		return nil, err
	}
	// The library's own log lines (faults at warn) would repeat what the
	// tool reports itself; the cipher's warnings about key files
	// readable by others are worth showing.
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := cfg.StoreOptions(nil)
	var hasCipher bool
	if withCipher {
		ciph, err := cfg.NewCipher(logger)
		if err != nil {
			return nil, err
		}
		if ciph != nil {
			opts = append(opts, attrcache.WithCipher(ciph))
			hasCipher = true
		}
	}
	rdb, err := cfg.Connect(ctx)
	if err != nil {
		return nil, err
	}
	store, err := attrcache.New(rdb, opts...)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &conn{cfg: cfg, rdb: rdb, store: store, cipher: hasCipher}, nil
}

func (c *conn) close() { _ = c.rdb.Close() }

// session is what inspect, end and purge begin with: the positional
// arguments parsed, the session id read (from the command line or
// stdin), a connection (with the cipher when the withCipher flag, parsed
// here, is set), and what Inspect finds. The caller closes the
// connection.
func (c *invocation) session(ctx context.Context, fs *flag.FlagSet, args []string, withCipher *bool) (*conn, *attrcache.Session, *sessionInfo, error) {
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	sid, err := c.sessionID(pos)
	if err != nil {
		return nil, nil, nil, err
	}
	cn, err := c.connect(ctx, withCipher != nil && *withCipher)
	if err != nil {
		return nil, nil, nil, err
	}
	sess := cn.store.Session(sid)
	// Expiry is judged on the clock of the server that holds the key, as
	// the library judges it.
	info, err := inspect.Read(ctx, cn.rdb, sess.Key(), 0)
	if err != nil {
		cn.close()
		return nil, nil, nil, err
	}
	return cn, sess, &sessionInfo{Info: info, ID: sess.ID()}, nil
}

// sessionInfo is what inspect finds in a session's key, and the short
// digest of its id.
type sessionInfo struct {
	*inspect.Info
	ID string
}
