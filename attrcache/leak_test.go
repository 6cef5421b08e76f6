package attrcache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/suite"
)

// TestNoValueInLogsOrErrors runs every call, succeeding and failing, with
// a recognisable value under a JSON debug logger, an in-memory span
// exporter and a metric reader, and checks the value in no log line, no
// error text, no printed Entry or Attr, no span (name, attributes, events,
// status description) and no metric attribute. It also checks that the
// session id never appears. Names are traced (WithTracedNames), the most
// a span may say.
func TestNoValueInLogsOrErrors(t *testing.T) {
	const secret = "S3CR3T-VALUE-4b1d"
	const sid = "SESSION-ID-7f3a"
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	st, err := attrcache.New(rdb, attrcache.WithLogger(log), attrcache.WithCipher(suite.TinkCipher(t)),
		attrcache.WithLimits(attrcache.Limits{MaxValueBytes: 64, MaxAttributes: 4}),
		attrcache.WithTracerProvider(tp), attrcache.WithMeterProvider(mp), attrcache.WithTracedNames())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	val := []byte(secret)
	big := []byte(strings.Repeat(secret, 10))
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var printed []string
	show := func(x any) {
		printed = append(printed, fmt.Sprintf("%v", x), fmt.Sprintf("%+v", x), fmt.Sprintf("%#v", x), fmt.Sprint(x), fmt.Sprintf("%s", x))
	}

	note(st.Ping(ctx))
	s, err := st.Start(ctx, sid, time.Hour)
	note(err)
	_, err = st.Start(ctx, sid, time.Hour)
	note(err)
	attrs := []attrcache.Attr{{Name: "a", Value: val}, {Name: "b", Value: val, Options: []attrcache.WriteOption{attrcache.WithEncryption()}}}
	show(attrs[0])
	show(attrs)
	note(s.Create(ctx, "one", val))
	note(s.Create(ctx, "one", val))                                                             // exists
	note(s.Create(ctx, "big", big))                                                             // too big
	note(s.CreateMany(ctx, attrs))                                                              // ok
	note(s.CreateMany(ctx, attrs))                                                              // exists
	note(s.CreateMany(ctx, []attrcache.Attr{{Name: "x", Value: val}, {Name: "y", Value: val}})) // too many
	note(s.Set(ctx, "one", val, attrcache.WithEncryption()))
	note(s.SetMany(ctx, attrs))
	note(s.Update(ctx, "missing", val))
	note(s.UpdateMany(ctx, attrs, attrcache.WithExpiration(time.Minute)))
	note(s.Update(ctx, "one", val, attrcache.WithExpiration(-1)))
	for _, raw := range []bool{false, true} {
		var ro []attrcache.ReadOption
		if raw {
			ro = append(ro, attrcache.WithoutDecryption())
		}
		e, err := s.Get(ctx, "one", ro...)
		note(err)
		show(e)
		show(*e)
		m, err := s.GetMany(ctx, []string{"a", "b", "missing"}, ro...)
		note(err)
		show(m)
		all, err := s.GetAll(ctx, ro...)
		note(err)
		show(all)
		log.Debug("entry", "entry", e, "all", all)
	}
	_, err = s.Get(ctx, "missing")
	note(err)
	_, err = s.Exists(ctx, "one")
	note(err)
	_, err = s.ExistsMany(ctx, []string{"one", "two"})
	note(err)
	_, err = s.Names(ctx)
	note(err)
	note(s.SetExpiry(ctx, "one", time.Minute))
	note(s.SetExpiryMany(ctx, map[string]time.Duration{"a": time.Minute, "zz": time.Minute}))
	// A ciphertext moved to another name: decrypt error.
	mr.HSet(s.Key(), "moved", mr.HGet(s.Key(), "b"))
	_, err = s.Get(ctx, "moved")
	note(err)
	mr.HSet(s.Key(), "corrupt", "\xbf"+secret)
	_, err = s.Get(ctx, "corrupt")
	note(err)
	note(s.Delete(ctx, "one"))
	note(s.DeleteMany(ctx, []string{"a", "b"}))
	_, err = s.Renew(ctx, time.Hour)
	note(err)
	_, err = s.TTL(ctx)
	note(err)
	_, err = s.Incr(ctx, "one", 1)
	note(err)
	rotated, err := s.Rotate(ctx, sid+"-rotated")
	note(err)
	if err == nil {
		s = st.Session(sid)
		note(rotated.End(ctx))
		_, err = st.Start(ctx, sid, time.Hour)
		note(err)
	}
	note(s.End(ctx))
	note(s.Purge(ctx))
	note(s.Set(ctx, "after", val))
	mr.Close() // network errors too
	note(st.Session(sid).Set(ctx, "down", val))

	if len(errs) < 10 {
		t.Fatalf("only %d calls failed; the test should exercise many failures", len(errs))
	}
	wantKinds := []error{attrcache.ErrExists, attrcache.ErrInvalid, attrcache.ErrTooManyAttributes, attrcache.ErrNotFound,
		attrcache.ErrDecrypt, attrcache.ErrCorrupt, attrcache.ErrSessionNotFound, attrcache.ErrSessionExists}
	for _, k := range wantKinds {
		found := false
		for _, e := range errs {
			found = found || errors.Is(e, k)
		}
		if !found {
			t.Errorf("no call failed with %v", k)
		}
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), secret) || strings.Contains(e.Error(), sid) {
			t.Errorf("error text leaks: %q", e.Error())
		}
	}
	for _, p := range printed {
		if strings.Contains(p, secret) {
			t.Errorf("printed form leaks the value: %q", p)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"op":"create_many"`) || !strings.Contains(out, `"session":"`+s.ID()+`"`) {
		t.Fatalf("debug log lacks the expected fields:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, secret) || strings.Contains(line, sid) {
			t.Errorf("log line leaks: %s", line)
		}
	}

	// Spans: every string a span carries.
	got := spans.GetSpans()
	if len(got) < 30 {
		t.Fatalf("only %d spans recorded; every call should make one", len(got))
	}
	faults := 0
	for _, sp := range got {
		texts := []string{sp.Name, sp.Status.Description}
		if sp.Status.Description != "" {
			faults++
		}
		for _, kv := range sp.Attributes {
			texts = append(texts, string(kv.Key), kv.Value.Emit())
		}
		for _, ev := range sp.Events {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, string(kv.Key), kv.Value.Emit())
			}
		}
		for _, link := range sp.Links {
			for _, kv := range link.Attributes {
				texts = append(texts, string(kv.Key), kv.Value.Emit())
			}
		}
		for _, x := range texts {
			if strings.Contains(x, secret) || strings.Contains(x, sid) || strings.Contains(x, s.Key()) {
				t.Errorf("span %s leaks: %q", sp.Name, x)
			}
		}
	}
	if faults < 3 {
		t.Errorf("only %d spans describe a fault; the test should exercise several", faults)
	}

	// Metrics: every attribute of every data point.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	points := 0
	check := func(name string, set attribute.Set) {
		points++
		for _, kv := range set.ToSlice() {
			if v := kv.Value.Emit(); strings.Contains(v, secret) || strings.Contains(v, sid) || strings.Contains(v, s.ID()) {
				t.Errorf("metric %s attribute %s leaks: %q", name, kv.Key, v)
			}
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					check(m.Name, dp.Attributes)
				}
			default:
				t.Errorf("metric %s of unexpected type %T", m.Name, m.Data)
			}
		}
	}
	if points < 10 {
		t.Errorf("only %d metric points; every call should be measured", points)
	}
}
