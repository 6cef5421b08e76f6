package rueidisstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/backend"
)

// New returns a Store whose commands run on client: a rueidis client on a
// single node, behind Sentinel or on a Redis Cluster (client.Mode tells
// which). It does no I/O; the scripts are loaded on first use, or by
// Store.Ping.
//
// When the client caches (it was made without DisableCache), reads go
// through its cache (DoCache), and a Store reads its own writes at once
// provided the client has one pipeline connection per node: build its
// options with Options. Without a cache (DisableCache; miniredis needs
// it, and ForceSingleClient) every read goes to Redis.
//
// Every attrcache.Option applies as it does to attrcache.New; with
// WithReplicaWait every write waits for the replicas in its own round
// trip (WAIT in the same batch), as on go-redis.
func New(client rueidis.Client, opts ...attrcache.Option) (*attrcache.Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: rueidis client is nil", attrcache.ErrInvalid)
	}
	if backend.NewStore == nil {
		return nil, errors.New("rueidisstore: package attrcache did not set its hook")
	}
	anys := make([]any, len(opts))
	for i, o := range opts {
		anys[i] = o
	}
	st, err := backend.NewStore(func(lib *backend.Library, cfg backend.Config) (backend.Backend, error) {
		return newBackend(client, lib, cfg)
	}, anys)
	if err != nil {
		return nil, err
	}
	return st.(*attrcache.Store), nil
}

// The settings Options gives a client, and why.
const (
	// keepAlive is the period of rueidis's background PING on each
	// connection that heard nothing for a period (and the TCP
	// keepalive).
	keepAlive = 300 * time.Millisecond
	// connWriteTimeout bounds that PING: a connection whose PING goes
	// unanswered this long is closed, and its cache dropped with it. A
	// silent partition, or a frozen server, so stops the cache answering
	// within 2 x keepAlive + connWriteTimeout = 1.4 s.
	connWriteTimeout = 800 * time.Millisecond
	// cacheBytes is the cache of each connection, unless the options
	// set one: with one connection per node, the cache of each node.
	cacheBytes = 64 << 20
	// sentinelRefresh makes a Sentinel client check the sentinels' view
	// of the master this often, besides listening for +switch-master: one
	// missed event would otherwise pin it to the old master.
	sentinelRefresh = 5 * time.Second
)

// PartitionBound is how long after Redis stops answering, with the
// connection left open (a partition, a frozen server), a client built
// with Options may still answer reads from its cache: then rueidis's
// background PING on that connection has failed, and its cache is
// dropped. A closed connection drops its cache at once.
const PartitionBound = 2*keepAlive + connWriteTimeout

// Options returns o with what a Store needs of the client it caches
// for:
//
//   - one pipeline connection per node (PipelineMultiplex -1), so that
//     the connection that caches a key's reads carries the writes to it
//     too, and a write's invalidation reaches the cache before the write
//     returns (read-your-writes);
//   - a background PING every 300 ms on a connection that heard nothing
//     (Dialer.KeepAlive), closed unanswered after 800 ms
//     (ConnWriteTimeout), so that a partition stops cache hits within
//     PartitionBound (1.4 s);
//   - a bounded cache (CacheSizeEachConn, 64 MiB a node unless o sets
//     one);
//   - behind Sentinel, a refresh of the master every 5 s.
//
// The other fields of o are kept. A Dialer.KeepAlive or ConnWriteTimeout
// that o sets shorter is kept too.
func Options(o rueidis.ClientOption) rueidis.ClientOption {
	o.PipelineMultiplex = -1
	if o.Dialer.KeepAlive <= 0 || o.Dialer.KeepAlive > keepAlive {
		o.Dialer.KeepAlive = keepAlive
	}
	if o.ConnWriteTimeout <= 0 || o.ConnWriteTimeout > connWriteTimeout {
		o.ConnWriteTimeout = connWriteTimeout
	}
	if o.CacheSizeEachConn <= 0 {
		o.CacheSizeEachConn = cacheBytes
	}
	if o.Sentinel.MasterSet != "" && o.Sentinel.TopologyRefreshInterval == 0 {
		o.Sentinel.TopologyRefreshInterval = sentinelRefresh
	}
	return o
}
