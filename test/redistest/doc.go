// Package redistest runs real redis-server processes for attrcache's
// integration, fault, cluster and sentinel tests, and a TCP proxy that
// injects network faults between a client and a server.
//
// Every process lives in a t.TempDir(), listens on 127.0.0.1 only, on a
// port picked free at start (launches are retried when another process
// takes the port first), and is stopped when the test ends: SIGTERM, then
// SIGKILL after a second. On Linux the processes run in their own process
// group and are killed by the kernel if the test binary dies without
// cleaning up. Every wait is bounded and a failed start reports the tail
// of the server's log.
//
//   - StartServer: one server, persistence off unless WithAOF, with
//     Restart (same port and directory) and Kill for crash tests.
//   - StartCluster: three masters with a replica each, cluster-node-timeout
//     1 s, with KillMasterFor and WaitForFailover.
//   - StartSentinel: a master, a replica and three sentinels (quorum 2,
//     down-after 1 s), with KillMaster and WaitForNewMaster.
//   - NewProxy: pass-through by default; delays, lost replies, refused and
//     broken connections on demand.
//
// # Environment
//
// Require, which every Start function calls, finds the server binary:
//
//	ATTRCACHE_REDIS_SERVER   path or name of redis-server (default: redis-server in PATH)
//	ATTRCACHE_REQUIRE_REDIS  when true (1), a missing binary fails the test instead of skipping it
//	CI                       when true, same as ATTRCACHE_REQUIRE_REDIS
//
// Without a binary, tests skip with a hint to install redis-server, so
// `go test ./...` works on any machine while CI cannot pass by skipping.
package redistest
