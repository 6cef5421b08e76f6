package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// The memory benchmark's population: memSessions sessions of
// sessionAttrs attributes of valueSize bytes, written memWrites times
// each.
const (
	memSessions = 1000
	memWrites   = 20
	// spreadEvery is how often the spread case writes each session, and
	// laterBy how long after the last write the second reading is taken.
	spreadEvery = 3 * time.Second
	laterBy     = 5 * time.Second
)

// memory is a reading of Redis's memory.
type memory struct {
	used    int64 // used_memory
	clients int64 // mem_clients_normal: the clients' buffers
}

// data is used memory without the clients' buffers, which grow and shrink
// with what the connections happened to send and receive last.
func (m memory) data() int64 { return m.used - m.clients }

func (e *env) memory(b *testing.B) memory {
	b.Helper()
	info, err := e.rdb.Info(ctx, "memory").Result()
	if err != nil {
		b.Fatalf("INFO memory: %v", err)
	}
	var m memory
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "used_memory":
			m.used, err = strconv.ParseInt(v, 10, 64)
		case "mem_clients_normal":
			m.clients, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			b.Fatalf("INFO memory %s: %v", k, err)
		}
	}
	return m
}

// settle waits a second, for Redis to finish rehashing after a burst of
// work and to account the clients' buffers again: it updates
// mem_clients_normal for idle clients in its cron, a few times a second,
// so a reading right after a burst could take buffers already trimmed
// for data. Nothing a session holds changes in that second: its dead
// log entries stay until its next write, and an overflow key lives at
// least 5 s past its newest entry's deadline.
func settle() { time.Sleep(time.Second) }

// flush deletes every key; the function library stays loaded.
func (e *env) flush(b *testing.B) {
	b.Helper()
	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		b.Fatalf("FLUSHALL: %v", err)
	}
}

// keysUsage is the sum of MEMORY USAGE (SAMPLES 0: every field counted)
// of every live key, and how many there are.
func (e *env) keysUsage(b *testing.B) (bytes, keys int64) {
	b.Helper()
	iter := e.rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := e.rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
		if err != nil {
			b.Fatalf("MEMORY USAGE: %v", err)
		}
		bytes += n
		keys++
	}
	if err := iter.Err(); err != nil {
		b.Fatalf("SCAN: %v", err)
	}
	return bytes, keys
}

// population is what a memory case measures: the memory it took, its
// keys, and how many of its hashes are hashtable-encoded.
type population struct {
	data, used    int64 // used memory without clients' buffers, and with
	keyBytes      int64 // the sum of MEMORY USAGE of its keys
	keys, hashtab int64
}

// measure reads memory against before, which was read with the server
// empty, and the keys' own figures.
func (e *env) measure(b *testing.B, before memory, hashes []string) population {
	b.Helper()
	m := e.memory(b)
	p := population{data: m.data() - before.data(), used: m.used - before.used}
	// DBSIZE counts keys that have expired but that Redis has not
	// reclaimed yet, which the memory reading holds; SCAN, which the
	// sum of MEMORY USAGE needs, reclaims them on its way.
	n, err := e.rdb.DBSize(ctx).Result()
	if err != nil {
		b.Fatalf("DBSIZE: %v", err)
	}
	p.keys = n
	p.keyBytes, _ = e.keysUsage(b)
	for _, k := range hashes {
		enc, err := e.rdb.ObjectEncoding(ctx, k).Result()
		if err != nil {
			b.Fatalf("OBJECT ENCODING: %v", err)
		}
		if enc == "hashtable" {
			p.hashtab++
		}
	}
	return p
}

// rawMemory measures memSessions raw hashes of the typical attributes
// with keys as long as session keys, with the sessions' TTL when ttl.
func (e *env) rawMemory(b *testing.B, ttl bool) population {
	b.Helper()
	e.flush(b)
	settle()
	before := e.memory(b)
	pipe := e.rdb.Pipeline()
	args := make([]any, 0, 2*sessionAttrs)
	for _, a := range typical() {
		args = append(args, a.Name, a.Value)
	}
	keys := make([]string, memSessions)
	for i := range keys {
		keys[i] = e.rawKey()
		pipe.HSet(ctx, keys[i], args...)
		if ttl {
			pipe.Expire(ctx, keys[i], sessionTTL)
		}
		if i%100 == 99 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatalf("HSET: %v", err)
			}
		}
	}
	settle()
	p := e.measure(b, before, keys)
	e.flush(b)
	return p
}

// reportMemory reports a population per session beside the raw one (with
// the TTL) and the raw one without a TTL.
func reportMemory(b *testing.B, p, raw, rawNoTTL population) {
	per := func(x int64) float64 { return float64(x) / memSessions }
	b.ReportMetric(per(p.data), "B/session")
	b.ReportMetric(per(raw.data), "raw-B/session")
	b.ReportMetric(per(p.data-raw.data), "extra-B/session")
	b.ReportMetric(per(p.data-raw.data)/sessionAttrs, "extra-B/attr")
	b.ReportMetric(per(rawNoTTL.data), "raw-nottl-B/session")
	b.ReportMetric(per(p.used), "used-B/session")
	b.ReportMetric(per(raw.used), "raw-used-B/session")
	b.ReportMetric(per(p.keyBytes), "keys-B/session")
	b.ReportMetric(per(raw.keyBytes), "raw-keys-B/session")
	b.ReportMetric(float64(p.keys-memSessions), "overflow-keys")
	b.ReportMetric(float64(p.hashtab), "hashtables")
}

// BenchmarkMemory: Redis's memory for memSessions sessions of
// sessionAttrs attributes of valueSize bytes, against memSessions raw
// hashes with keys of the same length holding the same fields and
// values, with the sessions' TTL (raw-nottl-B/session: without one). The
// figure is used_memory after less used_memory before, the server empty
// before (FLUSHALL), less what the clients' buffers changed
// (mem_clients_normal): every key a session uses (its hash, its resend
// overflow when it has one) and what Redis spends on keeping them (the
// keyspace and expiry tables), per session. used-B/session is the same
// with the clients' buffers; keys-B/session is the sum of MEMORY USAGE
// of the live keys; overflow-keys counts the keys besides the session
// hashes (DBSIZE: resend overflows, expired ones that Redis has not
// reclaimed yet included); hashtables the session hashes that left
// Redis's compact listpack encoding.
//
//   - at-rest: every session started and given its attributes by one
//     CreateMany;
//   - spread: then memWrites Sets per session within a minute, each
//     session written every spreadEvery; measured right after the last
//     write (after: a second after it, see settle), laterBy after it
//     (5s-later) and twice that (10s-later: a resend overflow key lives
//     5 s past its newest entry's deadline);
//   - burst: memWrites Sets per session back to back (a few
//     milliseconds), sessions one after another; the same two readings.
//
// The raw hashes are measured once per case; writing the same fields
// with values of the same length does not change their size.
func BenchmarkMemory(b *testing.B) {
	e := newEnv(b)
	attrs := typical()
	warm := e.session(b, e.store, attrs)
	if err := warm.Set(ctx, target, value(valueSize)); err != nil {
		b.Fatal(err)
	}
	populate := func(b *testing.B) (memory, []*attrcache.Session) {
		e.flush(b)
		settle()
		before := e.memory(b)
		sessions := make([]*attrcache.Session, memSessions)
		mk := e.unbound(e.store, attrs)
		each(b, memSessions, func(i int) (err error) {
			sessions[i], err = mk(i)
			return err
		})
		return before, sessions
	}
	hashes := func(sessions []*attrcache.Session) []string {
		out := make([]string, len(sessions))
		for i, s := range sessions {
			out[i] = s.Key()
		}
		return out
	}
	// set writes the w-th write of a session: one of its attributes, a
	// value of the same length that differs from the one before.
	set := func(s *attrcache.Session, w int) error {
		v := value(valueSize)
		v[0] = byte('A' + w%26)
		return s.Set(ctx, attrs[w%sessionAttrs].Name, v)
	}
	readings := func(b *testing.B, before memory, sessions []*attrcache.Session, raw, rawNoTTL population, last time.Time) {
		settle()
		after := e.measure(b, before, hashes(sessions))
		b.Run("after", func(b *testing.B) { reportMemory(b, after, raw, rawNoTTL) })
		time.Sleep(time.Until(last.Add(laterBy)))
		later := e.measure(b, before, hashes(sessions))
		b.Run("5s-later", func(b *testing.B) { reportMemory(b, later, raw, rawNoTTL) })
		time.Sleep(time.Until(last.Add(2 * laterBy)))
		later = e.measure(b, before, hashes(sessions))
		b.Run("10s-later", func(b *testing.B) { reportMemory(b, later, raw, rawNoTTL) })
	}

	b.Run("at-rest", func(b *testing.B) {
		raw, rawNoTTL := e.rawMemory(b, true), e.rawMemory(b, false)
		before, sessions := populate(b)
		settle()
		reportMemory(b, e.measure(b, before, hashes(sessions)), raw, rawNoTTL)
	})
	b.Run("spread", func(b *testing.B) {
		raw, rawNoTTL := e.rawMemory(b, true), e.rawMemory(b, false)
		before, sessions := populate(b)
		time.Sleep(quietAfter)
		t0 := time.Now()
		gap := spreadEvery / memSessions
		for w := range memWrites {
			for i, s := range sessions {
				time.Sleep(time.Until(t0.Add(time.Duration(w)*spreadEvery + time.Duration(i)*gap)))
				if err := set(s, w); err != nil {
					b.Fatalf("Set: %v", err)
				}
			}
		}
		b.Logf("%d writes per session in %v", memWrites, time.Since(t0).Round(time.Millisecond))
		readings(b, before, sessions, raw, rawNoTTL, time.Now())
	})
	b.Run("burst", func(b *testing.B) {
		raw, rawNoTTL := e.rawMemory(b, true), e.rawMemory(b, false)
		before, sessions := populate(b)
		time.Sleep(quietAfter)
		took := make([]time.Duration, memSessions)
		t0 := time.Now()
		each(b, memSessions, func(i int) error {
			s0 := time.Now()
			for w := range memWrites {
				if err := set(sessions[i], w); err != nil {
					return fmt.Errorf("Set: %w", err)
				}
			}
			took[i] = time.Since(s0)
			return nil
		})
		b.Logf("%d writes per session within %v, all sessions in %v", memWrites,
			slices.Max(took).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		readings(b, before, sessions, raw, rawNoTTL, time.Now())
	})
}
