package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

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
	now, err := cn.now(ctx, sess.Key())
	if err != nil {
		cn.close()
		return nil, nil, nil, err
	}
	info, err := inspect.Read(ctx, cn.rdb, sess.Key(), now)
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

// now reads the clock of the server that holds key: expiry is judged on
// Redis's clock, as the library does.
func (c *conn) now(ctx context.Context, key string) (int64, error) {
	var t time.Time
	var err error
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		node, nerr := cc.MasterForKey(ctx, key)
		if nerr != nil {
			return 0, nerr
		}
		t, err = node.Time(ctx).Result()
	} else {
		t, err = c.rdb.Time(ctx).Result()
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", attrcache.ErrUnavailable, err)
	}
	return t.UnixMilli(), nil
}
