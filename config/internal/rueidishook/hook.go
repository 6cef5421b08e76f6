// Package rueidishook carries the opener of a Store on rueidis from
// package rueidisconfig to package config: config resolves the settings,
// rueidisconfig dials, and config never imports rueidis, whose command
// builders would add about 11 MB to every binary that reads a
// configuration.
package rueidishook

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// Settings are the redis.* settings as config resolved them.
type Settings struct {
	Mode       string   // single, cluster or sentinel
	Addrs      []string // host:port: the server, the seeds or the sentinels
	Username   string
	Password   string
	DB         int
	TLS        *tls.Config
	MasterName string
	// SentinelUsername and SentinelPassword are the sentinels' own.
	SentinelUsername string
	SentinelPassword string
	DialTimeout      time.Duration
	Cache            bool // redis.client_side_cache.enabled
	CacheBytes       int  // per node; 0: rueidisstore's default
}

// Opened is a Store on rueidis and what closes its client.
type Opened struct {
	Store *attrcache.Store
	Close func()
}

// Open dials a rueidis client with s and makes a Store on it with opts;
// nil until package rueidisconfig is linked in. An error of the dial is
// returned with dialed false, for config to name the addresses and tell
// refused credentials from an unreachable server.
var Open func(ctx context.Context, s Settings, opts []attrcache.Option) (o Opened, dialed bool, err error)

// String shows the settings with both passwords redacted, so that a
// printed Settings (%v, %+v, %s) never carries them.
func (s Settings) String() string {
	return fmt.Sprintf("{Mode:%s Addrs:%v Username:%s Password:%s DB:%d TLS:%t MasterName:%s SentinelUsername:%s "+
		"SentinelPassword:%s DialTimeout:%v Cache:%t CacheBytes:%d}",
		s.Mode, s.Addrs, s.Username, redacted(s.Password), s.DB, s.TLS != nil, s.MasterName, s.SentinelUsername,
		redacted(s.SentinelPassword), s.DialTimeout, s.Cache, s.CacheBytes)
}

// GoString is String for %#v.
func (s Settings) GoString() string { return "rueidishook.Settings" + s.String() }

func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}
