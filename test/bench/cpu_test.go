package bench

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuMeter adds up the CPU time this process (the client) and the
// redis-server spend while a benchmark's timer runs. On a shared, loaded
// machine wall-clock latency swings with other people's work; CPU time per
// operation does much less, and it tells Go-side cost from Redis-side
// (Lua) cost. It is read outside the timer, and the cost of one reading
// (a getrusage and an INFO cpu) is measured first and taken off every
// timed segment.
type cpuMeter struct {
	rdb                 *redis.Client
	cli, srv            time.Duration // accumulated over timed segments
	cli0, srv0          time.Duration // at the start of the current segment
	readCli, readSrv    time.Duration // cost of one reading
	failed              error
	calibrated, running bool
}

func newCPUMeter(rdb *redis.Client) *cpuMeter { return &cpuMeter{rdb: rdb} }

// read returns the CPU time used so far by this process and by the server.
func (m *cpuMeter) read() (cli, srv time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		m.failed = err
	}
	cli = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	info, err := m.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		m.failed = err
		return cli, 0
	}
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (k != "used_cpu_sys" && k != "used_cpu_user") {
			continue
		}
		s, err := strconv.ParseFloat(v, 64)
		if err != nil {
			m.failed = err
			continue
		}
		srv += time.Duration(s * float64(time.Second))
	}
	return cli, srv
}

// calibrate measures the cost of one reading.
func (m *cpuMeter) calibrate() {
	const n = 50
	c0, s0 := m.read()
	for range n {
		m.read()
	}
	c1, s1 := m.read()
	m.readCli, m.readSrv = (c1-c0)/(n+1), (s1-s0)/(n+1)
	m.calibrated = true
}

// start begins a timed segment; call it just before the timer starts.
func (m *cpuMeter) start() {
	if !m.calibrated {
		m.calibrate()
	}
	m.cli0, m.srv0 = m.read()
	m.running = true
}

// stop ends a timed segment; call it just after the timer stops.
func (m *cpuMeter) stop() {
	if !m.running {
		return
	}
	c, s := m.read()
	m.cli += max(0, c-m.cli0-m.readCli)
	m.srv += max(0, s-m.srv0-m.readSrv)
	m.running = false
}

// report adds cli-us/op and srv-us/op, the CPU time of the client and of
// redis-server per operation, prefixed with prefix, to b's results.
func (m *cpuMeter) report(b *testing.B, prefix string, ops int64) {
	b.Helper()
	if m.failed != nil {
		b.Logf("CPU time not reported: %v", m.failed)
		return
	}
	perOp := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(ops) }
	b.ReportMetric(perOp(m.cli), prefix+"cli-us/op")
	b.ReportMetric(perOp(m.srv), prefix+"srv-us/op")
}
