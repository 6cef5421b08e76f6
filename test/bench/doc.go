// Package bench measures attrcache against the baselines it has to beat:
// raw go-redis hash commands on the same server and a whole-session store
// (github.com/alexedwards/scs/v2 with goredisstore).
//
// Everything is in benchmarks, so a plain `go test ./...` runs nothing
// here. Each top-level benchmark starts its own redis-server (through
// test/redistest) and runs an attrcache sub-benchmark beside its
// baselines on that server, with one *redis.Client of default options, so
// every pair is measured in the same run under the same conditions. Each
// side reports its latency and Redis's execution time of the commands it
// sends (INFO commandstats), the measure of what it costs Redis's single
// core.
//
// run.sh runs the suite, feeds benchstat and prints the ratios against the
// project's targets (see ./ratio); README.md holds the method, the
// analysis and the latest tables.
package bench
