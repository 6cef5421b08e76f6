package bench

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The commands each side sends, whose server execution time is counted.
// A script's time includes the commands it calls; Redis counts those
// again under their own names, so a side lists only what it sends.
var (
	writeCmds = []string{"fcall", "evalsha", "eval"}
	readCmds  = []string{"hmget", "hgetall", "time"} // TIME: the clock samples of a Store
	// callCmds is everything a Store sends, for the per-call meter, which
	// tells a client's commands from a script's.
	callCmds = []string{"fcall", "evalsha", "eval", "hmget", "hgetall", "time", "del"}
)

// cmds lists the raw commands a baseline sends.
func cmds(names ...string) []string { return names }

// cmdMeter adds up what INFO commandstats says about the commands a side
// sends (calls and usec: the execution time inside Redis, without reading
// the request, parsing it, writing the reply or waiting in the event
// loop) over timed segments: it reads the counters when a segment starts
// and when it ends, so work between segments is left out, and several
// sides can take turns on one server. resetStats clears the counters
// (CONFIG RESETSTAT) when a case begins.
//
// Redis counts per command, not per client: only one side may run at a
// time, and nothing else may send the side's commands meanwhile.
type cmdMeter struct {
	rdb         *redis.Client
	cmds        []string
	calls, usec int64   // accumulated over timed segments
	calls0, us0 int64   // at the start of the current segment
	segments    []int64 // usec of each segment
	failed      error
}

func newCmdMeter(rdb *redis.Client, cmds []string) *cmdMeter {
	return &cmdMeter{rdb: rdb, cmds: cmds}
}

// resetStats clears Redis's command statistics.
func resetStats(b *testing.B, rdb *redis.Client) {
	b.Helper()
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatalf("CONFIG RESETSTAT: %v", err)
	}
}

// read returns the calls and usec of the meter's commands so far.
func (m *cmdMeter) read() (calls, usec int64) {
	info, err := m.rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		m.failed = err
		return 0, 0
	}
	for line := range strings.Lines(info) {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !slices.Contains(m.cmds, strings.TrimPrefix(name, "cmdstat_")) {
			continue
		}
		for kv := range strings.SplitSeq(stats, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if k != "calls" && k != "usec" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				m.failed = err
				continue
			}
			if k == "calls" {
				calls += n
			} else {
				usec += n
			}
		}
	}
	return calls, usec
}

// start begins a timed segment.
func (m *cmdMeter) start() { m.calls0, m.us0 = m.read() }

// stop ends a timed segment.
func (m *cmdMeter) stop() {
	c, u := m.read()
	m.calls += c - m.calls0
	m.usec += u - m.us0
	m.segments = append(m.segments, u-m.us0)
}

// report adds server-µs/op (execution time of the side's commands per
// operation) and cmds/op (how many it sent) to b's results, each unit
// prefixed with prefix.
func (m *cmdMeter) report(b *testing.B, prefix string, ops int) {
	b.Helper()
	if m.failed != nil {
		b.Fatalf("INFO commandstats: %v", m.failed)
	}
	b.ReportMetric(float64(m.usec)/float64(ops), prefix+"server-µs/op")
	b.ReportMetric(float64(m.calls)/float64(ops), prefix+"cmds/op")
}

// latencies collects the latency of every timed operation of a side.
type latencies []time.Duration

// report adds ns/op (mean latency), p50-ns/op and p99-ns/op, prefixed with
// prefix, to b's results.
func (l latencies) report(b *testing.B, prefix string) {
	b.Helper()
	if len(l) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	s := slices.Clone(l)
	slices.Sort(s)
	b.ReportMetric(float64(sum)/float64(len(s)), prefix+"ns/op")
	b.ReportMetric(float64(s[len(s)/2]), prefix+"p50-ns/op")
	b.ReportMetric(float64(s[len(s)*99/100]), prefix+"p99-ns/op")
}

// slowMeter measures one call at a time from Redis's slow log, with a
// threshold of 0 while the benchmark runs, so that every command is
// logged with its execution time (the same measure as commandstats'
// usec). The log tells a client's commands (logged with the client's
// address) from those a script calls (logged with "?:0"), so a call
// that sends a script and a plain HMGET, as a sealed SetExpiry does, is
// measured whole without counting the script's own HMGET twice.
//
// The slow log costs a script about 1.5 µs for every command it calls
// (the entry is made inside the script's time): a Set measures 2-4 µs
// more than with the log off, an EndSessions of 10 sessions (about 70
// commands) 8-24 µs more. The calls measured this way take hundreds of
// microseconds to milliseconds.
type slowMeter struct {
	rdb     *redis.Client
	cmds    []string
	perCall []time.Duration // the server time of each call
	longest time.Duration   // of a single command
	inner   time.Duration   // of the commands scripts called, all calls
	sent    int             // commands sent, all calls
}

func newSlowMeter(b *testing.B, e *env, cmds []string) *slowMeter {
	b.Helper()
	e.setConfig(b, "slowlog-log-slower-than", "0")
	e.setConfig(b, "slowlog-max-len", "100000")
	return &slowMeter{rdb: e.rdb, cmds: cmds}
}

// before clears the slow log; call it just before the call.
func (m *slowMeter) before(b *testing.B) {
	b.Helper()
	if err := m.rdb.SlowLogReset(ctx).Err(); err != nil {
		b.Fatalf("SLOWLOG RESET: %v", err)
	}
}

// after reads what the call sent; call it just after the call.
func (m *slowMeter) after(b *testing.B) {
	b.Helper()
	logs, err := m.rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		b.Fatalf("SLOWLOG GET: %v", err)
	}
	var total time.Duration
	for _, l := range logs {
		if l.ClientAddr == "?:0" {
			m.inner += l.Duration
			continue
		}
		if len(l.Args) == 0 || !slices.Contains(m.cmds, strings.ToLower(l.Args[0])) {
			continue
		}
		total += l.Duration
		m.longest = max(m.longest, l.Duration)
		m.sent++
	}
	m.perCall = append(m.perCall, total)
}

// report adds server-µs/op (the mean of the calls' server time),
// max-call-server-µs (the most one call took), max-server-µs (the
// longest single command), inner-µs/op (the part of server-µs/op spent in
// the commands the call's scripts called: the rest is the scripts' Lua
// and the commands' own overhead) and cmds/op.
func (m *slowMeter) report(b *testing.B) {
	b.Helper()
	if len(m.perCall) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range m.perCall {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(sum)/float64(len(m.perCall)), "server-µs/op")
	b.ReportMetric(us(slices.Max(m.perCall)), "max-call-server-µs")
	b.ReportMetric(us(m.longest), "max-server-µs")
	b.ReportMetric(us(m.inner)/float64(len(m.perCall)), "inner-µs/op")
	b.ReportMetric(float64(m.sent)/float64(len(m.perCall)), "cmds/op")
}
