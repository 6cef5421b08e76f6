// Package bench measures attrcache against the baselines it has to beat
// on a real redis-server: Redis's execution time of every write against
// the floor under any write script, reads against raw hash commands,
// memory against raw hashes, client allocations, throughput at
// saturation, hot sessions, the heaviest calls the default limits allow,
// and what binding sessions to users costs.
//
// Everything is in benchmarks, so a plain `go test ./...` runs nothing
// here. Each top-level benchmark starts its own redis-server (through
// test/redistest). A case makes a fixed number of calls of attrcache and
// of its baseline on that server, in turns, and reports both on one line
// (the baseline's figures prefixed "base-"), with Redis's execution time
// of the commands each side sends (INFO commandstats, or the slow log for
// calls of several commands) beside latency; b.N is not used, so the
// suite runs with -benchtime 1x.
//
// run.sh runs the suite and prints every target with PASS or MISS (see
// ./ratio); README.md is the performance document: the method, the
// latest run and what each miss costs.
package bench
