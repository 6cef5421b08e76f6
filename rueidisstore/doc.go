// Package rueidisstore runs an attrcache.Store on a rueidis client
// (github.com/redis/rueidis) instead of go-redis: for throughput (rueidis
// pipelines every caller's commands on one connection per node), and for
// a near cache on a single node, behind Sentinel and on a Redis Cluster
// alike. Only this package (and config/rueidisconfig, which links it into
// config.OpenStore) imports rueidis; an application that uses
// attrcache on go-redis does not link it.
//
//	client, err := rueidis.NewClient(rueidisstore.Options(rueidis.ClientOption{InitAddress: addrs}))
//	store, err := rueidisstore.New(client, attrcache.WithNamespace("app"))
//
// The Store is the same as attrcache.New's, call for call, and so are the
// bytes in Redis: Stores on either client share sessions. What differs is
// below.
//
// # Scripts
//
// Writes are attrcache's scripts: FCALL of its Functions library, which
// the Store loads on every master of a cluster (CLUSTER SLOTS names them;
// replicas get it from their master) by Ping, or when a master answers
// that a function is missing; on servers without Functions (before Redis
// 7, miniredis) EVALSHA, with EVAL after NOSCRIPT, sent like FCALL (with
// the fence, CLUSTER MYID or WAIT that goes with it). Reads are one HMGET
// or HGETALL, built with rueidis's command builders.
//
// # Lost replies
//
// rueidis resends no write whose reply was lost (it retries only
// read-only commands): the caller sees the network error, and Redis may
// have run the write or not. attrcache's scripts are exactly-once (a copy
// that carries a token Redis has seen reports the first run's outcome and
// changes nothing; a copy that arrives after the call's deadline is not
// run), so the Store resends the same bytes itself, at most twice, and
// only before the call's context ends. The resend window attrcache keeps
// tokens for is therefore each call's own deadline (the backend reports
// 25 s, attrcache's ceiling, and attrcache narrows it per call to the
// call's deadline). A reply from Redis, even an error, is never resent.
//
// # Deadlines
//
// rueidis bounds a call by its context exactly, on every topology, so
// every call of the Store (WithCallTimeout, 1 s by default) ends at its
// deadline. A call whose context can never be cancelled shares a timer
// with the calls that end within the same 2 ms, instead of arming its
// own; its deadline is rounded up to the next 2 ms.
//
// # Near cache
//
// When the client caches (RESP3 client tracking; not with DisableCache),
// every read goes through DoCache, kept at most CacheTTL as a backstop;
// expiry is judged on every hit in Go, against attrcache's estimate of
// Redis's clock, as for any read. attrcache's near-cache metrics
// (attrcache.near_cache.hits and misses) count what the cache answered
// and what went to Redis.
//
//   - Another process's writes and Ends reach the cache as Redis's
//     invalidations, within their delay (well under a millisecond on a
//     LAN).
//   - The Store reads its own writes. rueidis has no call to evict a key,
//     and Redis sends a connection the invalidation of its own write after
//     the write's reply. So each write goes in one round trip with a
//     fence, a second command on the same key (EXISTS; CLUSTER MYID on a
//     cluster) whose reply comes after the invalidation. That holds when
//     the connection that caches a key's reads is the one that carries the
//     writes: one pipeline connection per node, which Options sets (and
//     rueidis's cluster client has by default). With more, a write may go
//     out on another connection than the one caching its key; the Store
//     cannot see a client's options, so build them with Options, and
//     leave reads on the masters (no SendToReplicas, no ReplicaOnly): a
//     replica's cache is not fenced by a write to its master.
//   - In a partition that keeps the connection open, or with a frozen
//     server, the cache stops answering within PartitionBound (1.4 s) on a
//     client built with Options: its background PING on the connection
//     goes unanswered and rueidis drops that connection's cache. Hits cost
//     nothing for it and the hit rate does not drop: a connection that
//     carries replies is not pinged at all. A closed connection drops its
//     cache at once.
//
// # Limits
//
// The Store cannot see the database a client selects (SelectDB):
// telemetry reports database 0.
//
// WithReplicaWait works as on go-redis: the backend sends WAIT in the
// same batch as the write, to the key's master, on a connection of
// rueidis's own, followed by a fence when the client caches (one more
// round trip then, so the Store still reads its own writes).
package rueidisstore
