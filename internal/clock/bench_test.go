package clock_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/attrcache/attrcache/internal/clock"
)

// benchClock returns a Clock on the real local clock that knows n sources,
// named by addr(i), each from a tight sample, and a reply that agrees
// with source 0 but is no better: what most calls observe.
func benchClock(n int) (c *clock.Clock, sent, recv time.Time, ms int64) {
	c = clock.New(nil)
	for i := range n {
		s := c.Local()
		c.Observe(addr(i), s, s.Add(50*time.Microsecond), time.Now().UnixMilli()+int64(i))
	}
	sent = c.Local()
	recv = sent.Add(time.Millisecond)
	return c, sent, recv, time.Now().UnixMilli()
}

var addrs = []string{"", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379", "10.0.0.5:6379", "10.0.0.6:6379"}

func addr(i int) string { return addrs[i] }

func BenchmarkObserve(b *testing.B) {
	c, sent, recv, ms := benchClock(1)
	b.ReportAllocs()
	for b.Loop() {
		c.Observe("", sent, recv, ms)
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	c, sent, recv, ms := benchClock(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Observe("", sent, recv, ms)
		}
	})
}

// BenchmarkObserveLive observes real readings of the local clock and of
// this machine's wall clock as Redis's: now and then a sample is better
// and replaces the best, as in a running Store.
func BenchmarkObserveLive(b *testing.B) {
	c, _, _, _ := benchClock(1)
	b.ReportAllocs()
	for b.Loop() {
		sent := c.Local()
		ms := time.Now().UnixMilli()
		c.Observe("", sent, c.Local(), ms)
	}
}

func BenchmarkFor(b *testing.B) {
	c, _, _, _ := benchClock(3)
	b.ReportAllocs()
	for b.Loop() {
		c.For("10.0.0.2:6379")
	}
}

func BenchmarkUpper(b *testing.B) {
	for _, n := range []int{1, 3, 6} {
		b.Run(strconv.Itoa(n)+"sources", func(b *testing.B) {
			c, _, _, _ := benchClock(n)
			b.ReportAllocs()
			for b.Loop() {
				c.Upper()
			}
		})
	}
}

func BenchmarkNeed(b *testing.B) {
	c, _, _, _ := benchClock(3)
	b.ReportAllocs()
	for b.Loop() {
		c.Need("10.0.0.2:6379")
	}
}

// BenchmarkCallParallel is what one attrcache call does: Need, Upper, and
// Observe of the reply, from many goroutines at once.
func BenchmarkCallParallel(b *testing.B) {
	c, sent, recv, ms := benchClock(3)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Need("")
			c.Upper()
			c.Observe("", sent, recv, ms)
		}
	})
}
