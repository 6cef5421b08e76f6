package bench

import (
	"testing"

	"github.com/attrcache/attrcache/attrcache"
)

// memoryAttrs is the session size of BenchmarkMemory.
const memoryAttrs = 100

// BenchmarkMemory measures Redis memory per attribute with MEMORY USAGE
// (SAMPLES 0: every field counted) on a session of memoryAttrs attributes
// of valueSize bytes and on a raw hash of the same names and values. It
// reports B/attr (attrcache), raw-B/attr, extra-B/attr (the difference,
// the session marker included) and whether each hash is hashtable-encoded
// (1) rather than listpack (0). The timed loop is the two MEMORY USAGE
// calls; its ns/op means nothing.
//
// Redis keeps a hash as a listpack while it has at most
// hash-max-listpack-entries (128) fields and no value longer than
// hash-max-listpack-value (64 bytes); past either it becomes a hashtable,
// which costs several times more per field. A 32-byte value makes a
// 51-byte record (19-byte header), under 64; sealed, it is 84 bytes
// (Tink adds 33), over. The listpack128 case raises
// hash-max-listpack-value to 128 while it writes, to show what that
// setting saves on sessions of small encrypted values. The session is
// written twice (Start, one CreateMany), so its resend log (2 entries, 32
// bytes) stays under 64 too; see BenchmarkResendLog for sessions written
// more often.
func BenchmarkMemory(b *testing.B) {
	e := newEnv(b)
	sealed, sealOpts := cipherCase{"tink-aes256gcm", tinkAEAD(b)}.store(b, e)
	ns, v := names(memoryAttrs), value(valueSize)
	for _, c := range []struct {
		name     string
		store    *attrcache.Store
		opts     []attrcache.WriteOption
		listpack string // hash-max-listpack-value while the hashes are written; "" keeps 64
	}{
		{"values=32B", e.store, nil, ""},
		{"values=32B-encrypted", sealed, sealOpts, ""},
		{"values=32B-encrypted-listpack128", sealed, sealOpts, "128"},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.listpack != "" {
				e.setConfig(b, "hash-max-listpack-value", c.listpack)
			}
			sess := e.sessionOf(b, c.store)
			fill(b, sess, ns, v, c.opts...)
			raw := e.rawKey()
			e.fillRaw(b, raw, ns, v)
			var ours, theirs int64
			b.ResetTimer()
			for range b.N {
				ours, theirs = e.memoryUsage(b, sess.Key()), e.memoryUsage(b, raw)
			}
			b.StopTimer()
			b.ReportMetric(float64(ours)/memoryAttrs, "B/attr")
			b.ReportMetric(float64(theirs)/memoryAttrs, "raw-B/attr")
			b.ReportMetric(float64(ours-theirs)/memoryAttrs, "extra-B/attr")
			b.ReportMetric(e.hashtable(b, sess.Key()), "hashtable")
			b.ReportMetric(e.hashtable(b, raw), "raw-hashtable")
		})
	}
}

// setConfig sets a server parameter until b ends.
func (e *env) setConfig(b *testing.B, name, value string) {
	b.Helper()
	old, err := e.rdb.ConfigGet(ctx, name).Result()
	if err != nil || old[name] == "" {
		b.Fatalf("CONFIG GET %s: %v %v", name, old, err)
	}
	if err := e.rdb.ConfigSet(ctx, name, value).Err(); err != nil {
		b.Fatalf("CONFIG SET %s: %v", name, err)
	}
	b.Cleanup(func() { _ = e.rdb.ConfigSet(ctx, name, old[name]).Err() })
}

func (e *env) memoryUsage(b *testing.B, key string) int64 {
	b.Helper()
	n, err := e.rdb.MemoryUsage(ctx, key, 0).Result()
	if err != nil {
		b.Fatalf("MEMORY USAGE %s: %v", key, err)
	}
	return n
}

// hashtable returns 1 when key is a hashtable-encoded hash, 0 when it is
// a listpack.
func (e *env) hashtable(b *testing.B, key string) float64 {
	b.Helper()
	enc, err := e.rdb.ObjectEncoding(ctx, key).Result()
	if err != nil {
		b.Fatalf("OBJECT ENCODING %s: %v", key, err)
	}
	switch enc {
	case "hashtable":
		return 1
	case "listpack", "ziplist":
		return 0
	}
	b.Fatalf("OBJECT ENCODING %s: %q", key, enc)
	return 0
}
