package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/attrcache/attrcache/internal/cli"
)

// How stats works, and what it costs.
//
// It SCANs every master for <namespace>:s:* (never KEYS, which blocks
// Redis for the whole keyspace) and counts the keys: that count is exact
// within SCAN's own guarantee (a key present for the whole scan is seen;
// one added or removed during it may or may not be; a key may be seen
// twice while Redis resizes its table). One SCAN call of COUNT 1000 held
// Redis 7.0 for about 3 ms on a 2-core machine; 10M keys are 10,000
// calls, about 30 s of Redis time in 3 ms slices. Lower -count on a
// server whose latency matters more than the time stats takes.
//
// Each examined key costs one pipelined TYPE, HLEN, HGET of the marker,
// HEXISTS of the resend log, PTTL and MEMORY USAGE: six O(1) commands
// (MEMORY USAGE samples 5 fields of a large hash), about 5.5 µs of Redis
// time in all. Examining all of 10M keys would be 60M commands, about a
// minute of Redis time and several minutes of wall time, so by default a
// uniform sample of 10,000 keys (-sample) is examined: chosen by
// reservoir sampling during the scan, split between masters in
// proportion to their keys, and scaled up to the keys found. -sample all
// examines every key as the scan goes, in constant memory.
//
// Attributes are counted as HLEN minus attrcache's own fields (the marker
// and the resend log): what the hash stores, expired records not yet
// reclaimed and corrupt records included. That works for every key,
// whatever its marker says; the marker's counter is compared with it,
// and sessions where the two differ are reported.

// defaultSample is how many keys stats examines unless told otherwise.
const defaultSample = 10000

// states in the order stats reports them.
var states = []string{"live", "rotating", "expired", "ended", "corrupt", "gone"}

// sampleFlag is -sample: a number of keys, or "all".
type sampleFlag struct {
	n   int
	all bool
}

func (s *sampleFlag) String() string {
	if s.all {
		return "all"
	}
	return strconv.Itoa(s.n)
}

// Accepts says what -sample takes, for the error about a value it
// refused, which does not show the value.
func (s *sampleFlag) Accepts() string { return "a number of keys, at least 1, or all" }

func (s *sampleFlag) Set(v string) error {
	if v == "all" {
		s.all = true
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("must be a number of keys (at least 1) or 'all'")
	}
	s.n, s.all = n, false
	return nil
}

// stats counts the namespace's session keys on every master and
// describes them from a sample, or from all of them with -sample all.
func (c *invocation) stats(ctx context.Context, args []string) error {
	fs := c.flags(false)
	asJSON := fs.Bool("json", false, "")
	sample := sampleFlag{n: defaultSample}
	fs.Var(&sample, "sample", "")
	count := fs.Int64("count", 1000, "")
	progress := fs.Duration("progress", 2*time.Second, "")
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return cli.Usagef("stats takes no arguments, %d given", len(pos))
	case *count < 1:
		return cli.Usagef("stats: -count must be at least 1")
	case *progress < 0:
		return cli.Usagef("stats: -progress must not be negative")
	}
	cn, err := c.connect(ctx, false)
	if err != nil {
		return err
	}
	defer cn.close()

	ns := cn.store.Namespace()
	sc := &scan{
		pattern:  globEscape(ns) + ":s:*",
		count:    *count,
		sample:   sample,
		progress: *progress,
		stderr:   c.stderr,
	}
	if err := sc.findNodes(ctx, cn); err != nil {
		return err
	}
	res, err := sc.run(ctx)
	if err != nil {
		return err
	}
	res.namespace = ns
	if *asJSON {
		return res.writeJSON(c.stdout)
	}
	return res.writeTable(c.stdout)
}

// globEscape escapes the characters SCAN's MATCH treats as pattern: a
// namespace may hold any printable character but braces.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
