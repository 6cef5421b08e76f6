package bench

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The commands each side of a pair sends, whose server execution time is
// counted. A write script's time includes the commands it calls (Redis
// counts those again under their own names, which is why a side lists
// only what it sends itself).
var (
	writeCmds = []string{"fcall", "evalsha", "eval"}
	readCmds  = []string{"hmget", "hgetall", "time"} // TIME: the clock sample of a Store's first call
)

// cmds lists the raw commands a baseline sends.
func cmds(names ...string) []string { return names }

// cmdMeter adds up what Redis's INFO commandstats says about the commands
// a benchmark side sends (calls and usec, the execution time inside Redis:
// no network, no parsing, no waiting) while the benchmark's timer runs.
// Execution time is what Redis's single core spends on attrcache; on a
// shared 2-core machine wall-clock latency is dominated by system calls
// and scheduling, which hide it.
//
// The loop resets the statistics (CONFIG RESETSTAT) before it starts and
// reads them around every timed segment, so the untimed work between
// segments (emptying sessions, filling them again) is not counted. With
// no commands it reports nothing: Redis counts per command, not per
// client, so a side whose commands other clients also send (or scripts
// call) cannot be told apart.
//
// With slow set it also keeps the longest single call (SLOWLOG with a
// threshold of 0 while the benchmark runs).
type cmdMeter struct {
	rdb          *redis.Client
	cmds         []string
	slow         bool  // keep the longest call
	calls, usec  int64 // accumulated over timed segments
	calls0, us0  int64 // at the start of the current segment
	longest      time.Duration
	failed       error
	running, set bool
}

func newCmdMeter(b *testing.B, rdb *redis.Client, cmds []string, slow bool) *cmdMeter {
	b.Helper()
	m := &cmdMeter{rdb: rdb, cmds: cmds, slow: slow}
	if slow {
		for name, v := range map[string]string{"slowlog-log-slower-than": "0", "slowlog-max-len": "1024"} {
			old, err := rdb.ConfigGet(ctx, name).Result()
			if err != nil {
				b.Fatalf("CONFIG GET %s: %v", name, err)
			}
			if err := rdb.ConfigSet(ctx, name, v).Err(); err != nil {
				b.Fatalf("CONFIG SET %s: %v", name, err)
			}
			b.Cleanup(func() { _ = rdb.ConfigSet(ctx, name, old[name]).Err() })
		}
	}
	return m
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

// start begins a timed segment; call it just before the timer starts.
func (m *cmdMeter) start() {
	if !m.set {
		if err := m.rdb.ConfigResetStat(ctx).Err(); err != nil {
			m.failed = err
		}
		m.set = true
	}
	if m.slow {
		if err := m.rdb.SlowLogReset(ctx).Err(); err != nil {
			m.failed = err
		}
	}
	m.calls0, m.us0 = m.read()
	m.running = true
}

// stop ends a timed segment; call it just after the timer stops.
func (m *cmdMeter) stop() {
	if !m.running {
		return
	}
	c, u := m.read()
	m.calls += c - m.calls0
	m.usec += u - m.us0
	m.running = false
	if !m.slow {
		return
	}
	logs, err := m.rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		m.failed = err
		return
	}
	for _, l := range logs {
		if len(l.Args) > 0 && slices.Contains(m.cmds, strings.ToLower(l.Args[0])) {
			m.longest = max(m.longest, l.Duration)
		}
	}
}

// report adds server-µs/op (execution time of the side's commands per
// operation), cmds/op and, with slow, max-server-µs (the longest single
// call) to b's results.
func (m *cmdMeter) report(b *testing.B) {
	b.Helper()
	if len(m.cmds) == 0 {
		return
	}
	if m.failed != nil {
		b.Logf("server time not reported: %v", m.failed)
		return
	}
	b.ReportMetric(float64(m.usec)/float64(b.N), "server-µs/op")
	b.ReportMetric(float64(m.calls)/float64(b.N), "cmds/op")
	if m.slow {
		b.ReportMetric(float64(m.longest)/float64(time.Microsecond), "max-server-µs")
	}
}

// meter is what loop and parallel measure besides latency: CPU time of
// both processes and Redis's execution time of one side's commands.
type meter struct {
	cpu *cpuMeter
	cmd *cmdMeter
}

func newMeter(b *testing.B, rdb *redis.Client, cmds []string, slow bool) *meter {
	return &meter{cpu: newCPUMeter(rdb), cmd: newCmdMeter(b, rdb, cmds, slow)}
}

func (m *meter) start() {
	m.cmd.start()
	m.cpu.start()
}

func (m *meter) stop() {
	m.cpu.stop()
	m.cmd.stop()
}

func (m *meter) report(b *testing.B) {
	b.Helper()
	m.cpu.report(b)
	m.cmd.report(b)
}
