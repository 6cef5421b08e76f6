package attrcache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/suite"
)

// telemetryRig is a Store on miniredis whose spans go to an in-memory
// exporter and whose metrics are read on demand.
type telemetryRig struct {
	mr     *miniredis.Miniredis
	rdb    *redis.Client
	st     *attrcache.Store
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	parent trace.Span
	ctx    context.Context // carries parent
}

func newTelemetryRig(t *testing.T, opts ...attrcache.Option) *telemetryRig {
	t.Helper()
	r := &telemetryRig{mr: miniredis.RunT(t)}
	r.rdb = redis.NewClient(&redis.Options{Addr: r.mr.Addr()})
	t.Cleanup(func() { r.rdb.Close() })
	r.spans = tracetest.NewInMemoryExporter()
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans))
	r.reader = sdkmetric.NewManualReader()
	r.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() { _ = r.tp.Shutdown(context.Background()); _ = r.mp.Shutdown(context.Background()) })
	opts = append([]attrcache.Option{attrcache.WithNamespace("tel"), attrcache.WithTracerProvider(r.tp),
		attrcache.WithMeterProvider(r.mp), attrcache.WithCipher(suite.TinkCipher(t))}, opts...)
	st, err := attrcache.New(r.rdb, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r.st = st
	r.ctx, r.parent = r.tp.Tracer("test").Start(context.Background(), "request")
	return r
}

// take returns the attrcache spans ended since the last take.
func (r *telemetryRig) take() []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range r.spans.GetSpans() {
		if s.InstrumentationScope.Name == "github.com/attrcache/attrcache/attrcache" {
			out = append(out, s)
		}
	}
	r.spans.Reset()
	return out
}

// metrics collects every metric, by name.
func (r *telemetryRig) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := make(map[string]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// durations returns the duration histogram's count per operation and
// outcome ("get/ok").
func durations(t *testing.T, ms map[string]metricdata.Metrics) map[string]uint64 {
	t.Helper()
	m, ok := ms["db.client.operation.duration"]
	if !ok {
		t.Fatal("no db.client.operation.duration metric")
	}
	if m.Unit != "s" {
		t.Errorf("duration unit %q, want s", m.Unit)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("duration data is %T", m.Data)
	}
	out := map[string]uint64{}
	for _, dp := range h.DataPoints {
		op, _ := dp.Attributes.Value("db.operation.name")
		o, _ := dp.Attributes.Value("attrcache.outcome")
		out[op.AsString()+"/"+o.AsString()] += dp.Count
		if sys, _ := dp.Attributes.Value("db.system.name"); sys.AsString() != "redis" {
			t.Errorf("duration point %v lacks db.system.name=redis", dp.Attributes)
		}
		if ns, _ := dp.Attributes.Value("attrcache.namespace"); ns.AsString() == "" {
			t.Errorf("duration point %v lacks attrcache.namespace", dp.Attributes)
		}
		if _, ok := dp.Attributes.Value("attrcache.session.digest"); ok {
			t.Errorf("duration point %v holds a session digest: metrics must stay low-cardinality", dp.Attributes)
		}
		if dp.Sum <= 0 {
			t.Errorf("duration point %v has sum %v", dp.Attributes, dp.Sum)
		}
	}
	return out
}

// counter sums an Int64 counter's points.
func counter(t *testing.T, ms map[string]metricdata.Metrics, name, unit string) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		return 0
	}
	if m.Unit != unit {
		t.Errorf("%s unit %q, want %q", name, m.Unit, unit)
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok || !s.IsMonotonic {
		t.Fatalf("%s is %T, not a monotonic counter", name, m.Data)
	}
	var n int64
	for _, dp := range s.DataPoints {
		n += dp.Value
	}
	return n
}

// TestTelemetryEveryCall runs every public call once, succeeding, under
// a parent span, and checks that each makes exactly one client span,
// named after its operation, child of the parent, with the documented
// attributes, and one measurement of the duration histogram.
func TestTelemetryEveryCall(t *testing.T) {
	r := newTelemetryRig(t)
	ctx := r.ctx
	var s *attrcache.Session
	v := []byte("v")
	two := []attrcache.Attr{{Name: "a", Value: v}, {Name: "b", Value: v, Options: []attrcache.WriteOption{attrcache.WithEncryption()}}}
	calls := []struct {
		op    string
		count int // -1: no attrcache.attribute.count
		run   func() error
	}{
		{"ping", -1, func() error { return r.st.Ping(ctx) }},
		{"start", -1, func() (err error) { s, err = r.st.Start(ctx, "sid-every-call", time.Hour); return err }},
		{"create", 1, func() error { return s.Create(ctx, "one", v) }},
		{"create_many", 2, func() error { return s.CreateMany(ctx, two) }},
		{"set", 1, func() error { return s.Set(ctx, "one", v) }},
		{"set_many", 2, func() error { return s.SetMany(ctx, two) }},
		{"update", 1, func() error { return s.Update(ctx, "one", v) }},
		{"update_many", 2, func() error { return s.UpdateMany(ctx, two) }},
		{"get", 1, func() error { _, err := s.Get(ctx, "one"); return err }},
		{"get_many", 2, func() error { _, err := s.GetMany(ctx, []string{"a", "b"}); return err }},
		{"get_all", 3, func() error { _, err := s.GetAll(ctx); return err }},
		{"exists", 1, func() error { _, err := s.Exists(ctx, "one"); return err }},
		{"exists_many", 2, func() error { _, err := s.ExistsMany(ctx, []string{"a", "zz"}); return err }},
		{"names", 3, func() error { _, err := s.Names(ctx); return err }},
		{"set_expiry", 1, func() error { return s.SetExpiry(ctx, "one", time.Minute) }},
		{"set_expiry_many", 2, func() error {
			return s.SetExpiryMany(ctx, map[string]time.Duration{"a": time.Minute, "b": time.Minute})
		}},
		{"delete", 1, func() error { return s.Delete(ctx, "one") }},
		{"delete_many", 2, func() error { return s.DeleteMany(ctx, []string{"a", "zz"}) }},
		{"renew", -1, func() error { _, err := s.Renew(ctx, time.Hour); return err }},
		{"ttl", -1, func() error { _, err := s.TTL(ctx); return err }},
		{"rotate", -1, func() (err error) { s, err = s.Rotate(ctx, "sid-every-call-2"); return err }},
		{"end", -1, func() error { return s.End(ctx) }},
		{"purge", -1, func() error { return s.Purge(ctx) }},
		{"incr", 1, func() error { _, err := r.st.User("u1").Incr(ctx, "n", 1); return err }},
		{"sessions", -1, func() error { _, err := r.st.User("u1").Sessions(ctx); return err }},
		{"end_sessions", -1, func() error { _, err := r.st.User("u1").EndSessions(ctx); return err }},
		{"purge_user", -1, func() error { return r.st.User("u1").Purge(ctx) }},
	}
	if len(calls) != 27 {
		t.Fatalf("%d calls listed; every public call must be", len(calls))
	}
	want := map[string]uint64{}
	for _, c := range calls {
		r.take()
		if err := c.run(); err != nil {
			t.Fatalf("%s: %v", c.op, err)
		}
		spans := r.take()
		if len(spans) != 1 {
			t.Fatalf("%s made %d spans, want 1: %v", c.op, len(spans), spanNames(spans))
		}
		sp := spans[0]
		checkSpan(t, sp, r.parent, "attrcache."+c.op)
		a := attrMap(sp.Attributes)
		wantAttrs := map[string]string{
			"db.system.name":      "redis",
			"db.operation.name":   c.op,
			"db.namespace":        "0",
			"attrcache.namespace": "tel",
			"attrcache.outcome":   "ok",
		}
		switch c.op {
		case "ping":
		case "incr", "sessions", "end_sessions", "purge_user":
			wantAttrs["attrcache.user.digest"] = r.st.User("u1").ID()
		default:
			wantAttrs["attrcache.session.digest"] = s.ID()
			if c.op == "rotate" {
				// The span belongs to the old id; the new one's digest is added.
				wantAttrs["attrcache.session.digest"] = r.st.Session("sid-every-call").ID()
				wantAttrs["attrcache.session.new_digest"] = s.ID()
			}
		}
		for k, w := range wantAttrs {
			if got := a[k].Emit(); got != w {
				t.Errorf("%s: %s = %q, want %q", c.op, k, got, w)
			}
		}
		if n, ok := a["attrcache.attribute.count"]; c.count >= 0 && (!ok || n.AsInt64() != int64(c.count)) {
			t.Errorf("%s: attrcache.attribute.count = %v, want %d", c.op, n.Emit(), c.count)
		} else if c.count < 0 && ok {
			t.Errorf("%s: attrcache.attribute.count set to %v on a call that names no attributes", c.op, n.Emit())
		}
		if _, ok := a["attrcache.attribute.names"]; ok {
			t.Errorf("%s: names traced without WithTracedNames", c.op)
		}
		if sp.Status.Code != codes.Unset {
			t.Errorf("%s: status %v on success", c.op, sp.Status)
		}
		if _, ok := a["error.type"]; ok {
			t.Errorf("%s: error.type on success", c.op)
		}
		want[c.op+"/ok"]++
	}
	got := durations(t, r.metrics(t))
	for k, n := range want {
		if got[k] != n {
			t.Errorf("duration histogram has %d measurements of %s, want %d", got[k], k, n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("duration histogram measured %s, which no call made", k)
		}
	}
}

func spanNames(spans []tracetest.SpanStub) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}

// checkSpan checks a span's name, kind, parent and scope.
func checkSpan(t *testing.T, sp tracetest.SpanStub, parent trace.Span, name string) {
	t.Helper()
	if sp.Name != name {
		t.Errorf("span %q, want %q", sp.Name, name)
	}
	if sp.SpanKind != trace.SpanKindClient {
		t.Errorf("%s: kind %v, want client", name, sp.SpanKind)
	}
	if sp.Parent.SpanID() != parent.SpanContext().SpanID() || sp.SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("%s: not a child of the caller's span", name)
	}
}

// TestTelemetryFailingCalls checks the outcome of failing calls: answers
// leave the status unset, faults set it to Error with error.type; both
// are counted in the histogram under their outcome.
func TestTelemetryFailingCalls(t *testing.T) {
	r := newTelemetryRig(t)
	ctx := r.ctx
	s, err := r.st.Start(ctx, "sid-failing", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	r.mr.HSet(s.Key(), "bad", "\xbfgarbage")
	cases := []struct {
		op, outcome string
		fault       bool
		run         func() error
	}{
		{"get", "not_found", false, func() error { _, err := s.Get(ctx, "missing"); return err }},
		{"create", "exists", false, func() error { return s.Create(ctx, "x", []byte("2")) }},
		{"update_many", "not_found", false, func() error {
			return s.UpdateMany(ctx, []attrcache.Attr{{Name: "x", Value: []byte("1")}, {Name: "y", Value: []byte("1")}})
		}},
		{"start", "session_exists", false, func() error { _, err := r.st.Start(ctx, "sid-failing", time.Hour); return err }},
		{"set", "session_not_found", false, func() error { return r.st.Session("sid-none").Set(ctx, "x", []byte("1")) }},
		{"set", "invalid", false, func() error { return s.Set(ctx, "bad\nname", []byte("1")) }},
		{"get", "corrupt", true, func() error { _, err := s.Get(ctx, "bad"); return err }},
	}
	want := map[string]uint64{}
	for _, c := range cases {
		r.take()
		err := c.run()
		if err == nil {
			t.Fatalf("%s %s: no error", c.op, c.outcome)
		}
		spans := r.take()
		if len(spans) != 1 {
			t.Fatalf("%s %s: %d spans", c.op, c.outcome, len(spans))
		}
		sp := spans[0]
		checkSpan(t, sp, r.parent, "attrcache."+c.op)
		a := attrMap(sp.Attributes)
		if got := a["attrcache.outcome"].AsString(); got != c.outcome {
			t.Errorf("%s: outcome %q, want %q (error %v)", c.op, got, c.outcome, err)
		}
		et, hasET := a["error.type"]
		switch {
		case c.fault && (sp.Status.Code != codes.Error || et.AsString() != c.outcome):
			t.Errorf("%s %s: status %v, error.type %q; a fault wants Error and %q", c.op, c.outcome, sp.Status, et.AsString(), c.outcome)
		case !c.fault && (sp.Status.Code != codes.Unset || hasET):
			t.Errorf("%s %s: status %v, error.type %q; an answer wants neither", c.op, c.outcome, sp.Status, et.AsString())
		}
		want[c.op+"/"+c.outcome]++
	}
	// Redis gone: a fault, with the cause's kind in the description.
	r.mr.Close()
	r.take()
	_, err = s.Get(ctx, "x")
	if !errors.Is(err, attrcache.ErrUnavailable) {
		t.Fatalf("Get on a closed server: %v", err)
	}
	sp := r.take()[0]
	a := attrMap(sp.Attributes)
	if sp.Status.Code != codes.Error || a["error.type"].AsString() != "unavailable" || a["attrcache.outcome"].AsString() != "unavailable" {
		t.Errorf("unavailable Get: status %v, attributes %v", sp.Status, sp.Attributes)
	}
	if !strings.HasPrefix(sp.Status.Description, "attrcache: redis call failed") {
		t.Errorf("unavailable Get: description %q", sp.Status.Description)
	}
	want["get/unavailable"]++

	got := durations(t, r.metrics(t))
	for k, n := range want {
		if got[k] != n {
			t.Errorf("duration histogram: %d measurements of %s, want %d (all: %v)", got[k], k, n, got)
		}
	}
	// The histogram's fault points carry error.type, its answers none.
	var rm metricdata.ResourceMetrics
	_ = r.reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				continue
			}
			for _, dp := range h.DataPoints {
				o, _ := dp.Attributes.Value("attrcache.outcome")
				et, has := dp.Attributes.Value("error.type")
				fault := slices.Contains([]string{"unavailable", "corrupt", "decrypt", "not_replicated"}, o.AsString())
				if fault != has || (has && et.AsString() != o.AsString()) {
					t.Errorf("histogram point %v: error.type must be set for faults only", dp.Attributes.ToSlice())
				}
			}
		}
	}
}

// TestTelemetryTracedNames: names reach spans only with WithTracedNames,
// and never metrics.
func TestTelemetryTracedNames(t *testing.T) {
	for _, traced := range []bool{false, true} {
		t.Run(fmt.Sprint("traced=", traced), func(t *testing.T) {
			var opts []attrcache.Option
			if traced {
				opts = append(opts, attrcache.WithTracedNames())
			}
			r := newTelemetryRig(t, opts...)
			s, err := r.st.Start(r.ctx, "sid-names", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			r.take()
			_ = s.CreateMany(r.ctx, []attrcache.Attr{{Name: "role-admin", Value: []byte("1")}, {Name: "cart", Value: []byte("2")}})
			r.mr.HSet(s.Key(), "role-admin", "\xbfgarbage")
			_, err = s.GetMany(r.ctx, []string{"role-admin", "cart"})
			if !errors.Is(err, attrcache.ErrCorrupt) {
				t.Fatalf("GetMany of a corrupt record: %v", err)
			}
			spans := r.take()
			if len(spans) != 2 {
				t.Fatalf("%d spans", len(spans))
			}
			names := attrMap(spans[0].Attributes)["attrcache.attribute.names"].AsStringSlice()
			desc := spans[1].Status.Description
			if traced {
				if !slices.Equal(names, []string{"role-admin", "cart"}) {
					t.Errorf("traced names %v", names)
				}
				if !strings.Contains(desc, "role-admin") {
					t.Errorf("with traced names the fault description keeps them: %q", desc)
				}
			} else {
				if names != nil {
					t.Errorf("names traced without the option: %v", names)
				}
				if strings.Contains(desc, "role-admin") || desc != attrcache.ErrCorrupt.Error() {
					t.Errorf("fault description %q must not name attributes", desc)
				}
			}
			var rm metricdata.ResourceMetrics
			_ = r.reader.Collect(context.Background(), &rm)
			if strings.Contains(fmt.Sprintf("%+v", rm), "role-admin") {
				t.Error("a metric holds an attribute name")
			}
		})
	}
}

// twice sends each script twice and returns the second reply, as
// go-redis does when it resends after a lost reply.
type twice struct{}

func (twice) DialHook(next redis.DialHook) redis.DialHook { return next }
func (twice) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "evalsha" && name != "eval" && name != "fcall" {
			return next(ctx, cmd)
		}
		if err := next(ctx, cmd); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}
func (twice) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestTelemetryCounters makes each counted event happen and checks its
// counter: a resend recognised, records reclaimed, a value that does not
// decrypt, a corrupt record.
func TestTelemetryCounters(t *testing.T) {
	r := newTelemetryRig(t)
	ctx := r.ctx
	s, err := r.st.Start(ctx, "sid-counters", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Resends: every script sent twice; the second run answers RESENT.
	dup := redis.NewClient(&redis.Options{Addr: r.mr.Addr()})
	defer dup.Close()
	dup.AddHook(twice{})
	dupStore, err := attrcache.New(dup, attrcache.WithNamespace("tel"), attrcache.WithMeterProvider(r.mp),
		attrcache.WithTracerProvider(r.tp))
	if err != nil {
		t.Fatal(err)
	}
	ds := dupStore.Session("sid-counters")
	if err := ds.Set(ctx, "dup", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := ds.Delete(ctx, "dup"); err != nil {
		t.Fatal(err)
	}
	spans := r.take()
	var resentSpans int
	for _, sp := range spans {
		if attrMap(sp.Attributes)["attrcache.resent"].AsBool() {
			resentSpans++
		}
	}
	if resentSpans != 2 {
		t.Errorf("%d spans marked attrcache.resent, want 2", resentSpans)
	}
	ms := r.metrics(t)
	if n := counter(t, ms, "attrcache.resends", "{resend}"); n != 2 {
		t.Errorf("attrcache.resends = %d, want 2", n)
	}

	// Reclaim: records expire, then a write reclaims them.
	for _, name := range []string{"e1", "e2", "e3"} {
		if err := s.Create(ctx, name, []byte("1"), attrcache.WithExpiration(50*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	r.take()
	if err := s.Set(ctx, "trigger", []byte("1")); err != nil {
		t.Fatal(err)
	}
	sp := r.take()[0]
	if got := attrMap(sp.Attributes)["attrcache.reclaimed"].AsInt64(); got != 3 {
		t.Errorf("span attrcache.reclaimed = %d, want 3", got)
	}
	ms = r.metrics(t)
	if n := counter(t, ms, "attrcache.reclaimed_records", "{record}"); n != 3 {
		t.Errorf("attrcache.reclaimed_records = %d, want 3", n)
	}

	// A value that does not decrypt: flip a ciphertext byte.
	if err := s.CreateMany(ctx, []attrcache.Attr{{Name: "s1", Value: []byte("secret")}, {Name: "s2", Value: []byte("secret")}},
		attrcache.WithEncryption()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s1", "s2"} {
		rec := []byte(r.mr.HGet(s.Key(), name))
		rec[len(rec)-1] ^= 0x01
		r.mr.HSet(s.Key(), name, string(rec))
	}
	_, err = s.GetMany(ctx, []string{"s1", "s2", "trigger"})
	if !errors.Is(err, attrcache.ErrDecrypt) {
		t.Fatalf("GetMany of flipped ciphertexts: %v", err)
	}
	ms = r.metrics(t)
	if n := counter(t, ms, "attrcache.undecryptable_records", "{record}"); n != 2 {
		t.Errorf("attrcache.undecryptable_records = %d, want 2", n)
	}

	// Corrupt records: one read, one met by a write.
	r.mr.HSet(s.Key(), "c1", "\xbfgarbage")
	r.mr.HSet(s.Key(), "c2", "x")
	if _, err := s.Get(ctx, "c1"); !errors.Is(err, attrcache.ErrCorrupt) {
		t.Fatalf("Get of a corrupt record: %v", err)
	}
	if err := s.UpdateMany(ctx, []attrcache.Attr{{Name: "c1", Value: []byte("1")}, {Name: "c2", Value: []byte("1")}}); !errors.Is(err, attrcache.ErrCorrupt) {
		t.Fatalf("UpdateMany of corrupt records: %v", err)
	}
	ms = r.metrics(t)
	if n := counter(t, ms, "attrcache.corrupt_records", "{record}"); n != 3 {
		t.Errorf("attrcache.corrupt_records = %d, want 3", n)
	}
}

// TestGlobalProviderInstalledAfterNew: a Store made with no option
// follows the global providers, including ones the application installs
// after New, as applications often do (the Store is built with the
// client, telemetry set up later in main). Installing a global provider
// cannot be undone, and other tests need the globals untouched, so the
// test runs in a child process.
func TestGlobalProviderInstalledAfterNew(t *testing.T) {
	const env = "ATTRCACHE_TEST_GLOBAL_OTEL"
	if os.Getenv(env) != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalProviderInstalledAfterNew$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), env+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestGlobalProviderInstalledAfterNew") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}

	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	st, err := attrcache.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := st.Start(ctx, "sid-global", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)

	if _, err := s.Exists(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got := spans.GetSpans()
	if len(got) != 1 || got[0].Name != "attrcache.exists" {
		t.Fatalf("after the global provider was installed, Exists made spans %v, want one attrcache.exists", spanNames(got))
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	n := durations(t, map[string]metricdata.Metrics{"db.client.operation.duration": findMetric(rm, "db.client.operation.duration")})
	if n["exists/ok"] != 1 || len(n) != 1 {
		t.Fatalf("after the global meter provider was installed, the histogram holds %v; want exists/ok once (Start ran before)", n)
	}
}

func findMetric(rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	return metricdata.Metrics{}
}
