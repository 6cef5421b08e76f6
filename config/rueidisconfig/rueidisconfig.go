// Package rueidisconfig lets config.OpenStore run the Store on rueidis
// (redis.client: rueidis). Link it in where that setting may be used:
//
//	import _ "github.com/attrcache/attrcache/config/rueidisconfig"
//
// Package config does not import rueidis itself, so that binaries that
// read a configuration but use go-redis (the operator tool, most
// services) do not carry it: its command builders add about 11 MB to a
// binary.
package rueidisconfig

import (
	"context"

	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/config/internal/rueidishook"
	"github.com/attrcache/attrcache/rueidisstore"
)

func init() { rueidishook.Open = open }

// clientOption returns the rueidis options the settings describe, with
// rueidisstore.Options applied.
func clientOption(s rueidishook.Settings) rueidis.ClientOption {
	o := rueidis.ClientOption{
		InitAddress:  s.Addrs,
		Username:     s.Username,
		Password:     s.Password,
		SelectDB:     s.DB,
		TLSConfig:    s.TLS,
		DisableCache: !s.Cache,
	}
	o.Dialer.Timeout = s.DialTimeout
	if s.Cache && s.CacheBytes > 0 {
		o.CacheSizeEachConn = s.CacheBytes
	}
	switch s.Mode {
	case config.ModeSentinel:
		o.Sentinel = rueidis.SentinelOption{
			MasterSet: s.MasterName,
			Username:  s.SentinelUsername,
			Password:  s.SentinelPassword,
			TLSConfig: s.TLS,
		}
		o.Sentinel.Dialer.Timeout = s.DialTimeout
	case config.ModeCluster:
		o.SelectDB = 0
	default:
		o.InitAddress = s.Addrs[:1]
		o.ForceSingleClient = true // never probed for a cluster
	}
	return rueidisstore.Options(o)
}

func open(ctx context.Context, s rueidishook.Settings, opts []attrcache.Option) (rueidishook.Opened, bool, error) {
	client, err := rueidis.NewClient(clientOption(s))
	if err != nil {
		return rueidishook.Opened{}, false, err
	}
	store, err := rueidisstore.New(client, opts...)
	if err == nil {
		err = store.Ping(ctx)
	}
	if err != nil {
		client.Close()
		return rueidishook.Opened{}, true, err
	}
	return rueidishook.Opened{Store: store, Close: client.Close}, true, nil
}
