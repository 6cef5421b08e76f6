package attrcache_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// TestSpansWithRedisotel runs a login request (Start, CreateMany, Get)
// on a real redis-server whose client is also instrumented by go-redis's
// redisotel, and checks how the two combine: every attrcache span is a
// child of the request, every go-redis command span descends from the
// attrcache span that sent it (the first call of a Store also dials,
// samples Redis's clock and loads the functions: a warm-up call does
// that before the request), and, with redisotel's statements off as the
// README asks, no span holds the value or the session id. With -v it
// prints the span trees and the metrics, as the README shows them.
func TestSpansWithRedisotel(t *testing.T) {
	const secret = "S3CR3T-VALUE-4b1d"
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(srv.Options())
	t.Cleanup(func() { _ = rdb.Close() })
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false)); err != nil {
		t.Fatal(err)
	}
	st, err := attrcache.New(rdb, attrcache.WithTracerProvider(tp), attrcache.WithMeterProvider(mp),
		attrcache.WithCipher(suite.TinkCipher(t)))
	if err != nil {
		t.Fatal(err)
	}

	warm, err := st.Start(context.Background(), attrcache.NewSessionID(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.End(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := spans.GetSpans()
	spans.Reset()

	ctx, req := tp.Tracer("app").Start(context.Background(), "POST /login", trace.WithSpanKind(trace.SpanKindServer))
	sid := attrcache.NewSessionID()
	s, err := st.Start(ctx, sid, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = s.CreateMany(ctx, []attrcache.Attr{
		{Name: "user", Value: []byte("alice")},
		{Name: "token", Value: []byte(secret), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "user"); err != nil {
		t.Fatal(err)
	}
	req.End()

	// The first call's spans: everything go-redis did for it descends
	// from it, but the dial, which go-redis's pool runs on its own.
	firstByID := map[trace.SpanID]tracetest.SpanStub{}
	for _, sp := range first {
		firstByID[sp.SpanContext.SpanID()] = sp
	}
	for _, sp := range first {
		if strings.HasPrefix(sp.Name, "attrcache.") || sp.Name == "redis.dial" {
			continue
		}
		p, ok := firstByID[sp.Parent.SpanID()]
		for ok && !strings.HasPrefix(p.Name, "attrcache.") {
			p, ok = firstByID[p.Parent.SpanID()]
		}
		if !ok {
			t.Errorf("go-redis span %s of the first call does not descend from an attrcache span", sp.Name)
		}
	}
	t.Logf("span trees of a Store's first calls:\n%s", spanTree(first))

	got := spans.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, sp := range got {
		byID[sp.SpanContext.SpanID()] = sp
	}
	var ours, theirs int
	for _, sp := range got {
		parent, hasParent := byID[sp.Parent.SpanID()]
		switch {
		case strings.HasPrefix(sp.Name, "attrcache."):
			ours++
			if !hasParent || parent.Name != "POST /login" {
				t.Errorf("%s is not a child of the request span", sp.Name)
			}
		case sp.Name == "POST /login":
		default:
			theirs++
			if !hasParent || !strings.HasPrefix(parent.Name, "attrcache.") {
				t.Errorf("go-redis span %s is not a child of an attrcache span", sp.Name)
			}
		}
		for _, kv := range sp.Attributes {
			if v := kv.Value.Emit(); strings.Contains(v, secret) || strings.Contains(v, sid) || strings.Contains(v, s.Key()) {
				t.Errorf("span %s attribute %s leaks %q", sp.Name, kv.Key, v)
			}
		}
	}
	if ours != 3 || theirs != 3 {
		t.Errorf("%d attrcache spans and %d go-redis spans, want 3 of each: one command per call", ours, theirs)
	}
	t.Logf("span tree of a login request:\n%s", spanTree(got))
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	t.Logf("metrics:\n%s", metricList(rm))
}

// spanTree prints spans as an indented tree in start order, each with
// its duration and attributes (go-redis's code.* ones left out).
func spanTree(spans tracetest.SpanStubs) string {
	children := map[trace.SpanID][]tracetest.SpanStub{}
	ids := map[trace.SpanID]bool{}
	for _, sp := range spans {
		ids[sp.SpanContext.SpanID()] = true
	}
	var roots []tracetest.SpanStub
	for _, sp := range spans {
		if p := sp.Parent.SpanID(); p.IsValid() && ids[p] {
			children[p] = append(children[p], sp)
		} else {
			roots = append(roots, sp)
		}
	}
	var b strings.Builder
	var walk func(sp tracetest.SpanStub, depth int)
	walk = func(sp tracetest.SpanStub, depth int) {
		var attrs []string
		for _, kv := range sp.Attributes {
			if !strings.HasPrefix(string(kv.Key), "code.") {
				attrs = append(attrs, fmt.Sprintf("%s=%s", kv.Key, kv.Value.Emit()))
			}
		}
		status := ""
		if sp.Status.Code.String() != "Unset" {
			status = " status=" + sp.Status.Code.String()
		}
		fmt.Fprintf(&b, "%s%s (%s, %v)%s\n", strings.Repeat("  ", depth), sp.Name, sp.SpanKind,
			sp.EndTime.Sub(sp.StartTime).Round(time.Microsecond), status)
		if len(attrs) > 0 {
			fmt.Fprintf(&b, "%s    %s\n", strings.Repeat("  ", depth), strings.Join(attrs, " "))
		}
		kids := children[sp.SpanContext.SpanID()]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime.Before(kids[j].StartTime) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

// metricList prints each metric with its unit, kind and attribute keys.
func metricList(rm metricdata.ResourceMetrics) string {
	var b strings.Builder
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var kind string
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				kind = "histogram"
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			case metricdata.Sum[int64]:
				kind = "counter"
				for _, dp := range d.DataPoints {
					sets = append(sets, dp.Attributes)
				}
			}
			keys := map[string]bool{}
			var ops []string
			for _, s := range sets {
				for _, kv := range s.ToSlice() {
					keys[string(kv.Key)] = true
					if kv.Key == "db.operation.name" && !slices.Contains(ops, kv.Value.AsString()) {
						ops = append(ops, kv.Value.AsString())
					}
				}
			}
			var names []string
			for k := range keys {
				names = append(names, k)
			}
			sort.Strings(names)
			fmt.Fprintf(&b, "%s (%s, %s, scope %s): %d points; attributes %s; operations %s\n",
				m.Name, kind, m.Unit, sm.Scope.Name, len(sets), strings.Join(names, ", "), strings.Join(ops, ", "))
		}
	}
	return b.String()
}

// TestNearCacheMetrics: with a NearCache, the near cache's hits and misses
// are observable counters that report its Stats.
func TestNearCacheMetrics(t *testing.T) {
	srv := redistest.StartServer(t)
	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 1000})
	o := srv.Options()
	o.Protocol = 3
	o.ClientSideCache = near
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	st, err := attrcache.New(rdb, attrcache.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := st.Start(ctx, attrcache.NewSessionID(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := s.Get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	stats := near.Stats()
	if stats.Hits == 0 || stats.Misses == 0 {
		t.Fatalf("near cache stats %+v: the test wants hits and misses", stats)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{"attrcache.near_cache.hits": stats.Hits, "attrcache.near_cache.misses": stats.Misses} {
		m := findMetric(rm, name)
		sum, ok := m.Data.(metricdata.Sum[int64])
		if !ok || !sum.IsMonotonic || len(sum.DataPoints) != 1 {
			t.Errorf("%s: %T %+v, want one point of a monotonic sum", name, m.Data, m.Data)
			continue
		}
		if got := sum.DataPoints[0].Value; uint64(got) != want {
			t.Errorf("%s = %d, want %d (NearCache.Stats)", name, got, want)
		}
		if unit := map[string]string{"attrcache.near_cache.hits": "{hit}", "attrcache.near_cache.misses": "{miss}"}[name]; m.Unit != unit {
			t.Errorf("%s unit %q, want %q", name, m.Unit, unit)
		}
	}
}
