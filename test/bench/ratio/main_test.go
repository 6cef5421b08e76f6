package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkCreate/attrcache-2   	    1000	     50000 ns/op	     696 B/op	      21 allocs/op
BenchmarkCreate/raw-HSETNX-2  	    1000	     40000 ns/op	     272 B/op	       8 allocs/op
BenchmarkCreate/attrcache-2   	    1000	     60000 ns/op	     696 B/op	      21 allocs/op
BenchmarkCreate/raw-HSETNX-2  	    1000	     50000 ns/op	     272 B/op	       8 allocs/op
BenchmarkCreate/attrcache-2   	    1000	     90000 ns/op	     696 B/op	      21 allocs/op
BenchmarkCreate/raw-HSETNX-2  	    1000	     45000 ns/op	     272 B/op	       8 allocs/op
BenchmarkMemory/values=32B-2  	   10000	     40000 ns/op	        72.72 B/attr	        20.96 extra-B/attr	         0 hashtable	        51.76 raw-B/attr
--- BENCH: something logged
PASS
`

func TestCompute(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.get("BenchmarkCreate/attrcache", "ns/op")); got != 3 {
		t.Fatalf("attrcache samples = %d, want 3", got)
	}
	r := res.compute(checks[0])
	// Per-run ratios 1.25, 1.2, 2: median 1.25, range 1.2-2.
	if !r.ok || r.ratio != 1.25 || r.low != 1.2 || r.high != 2 || r.verdict() != "MISS" {
		t.Errorf("Create row = %+v, verdict %s", r, r.verdict())
	}
	for _, c := range checks {
		if c.ours != "BenchmarkMemory/values=32B" || c.unit != "extra-B/attr" {
			continue
		}
		m := res.compute(c)
		if !m.ok || m.ratio != 20.96 || m.ours != 72.72 || m.base != 51.76 || m.verdict() != "PASS" {
			t.Errorf("memory row = %+v, verdict %s", m, m.verdict())
		}
	}
	if r := res.compute(checks[1]); r.ok || r.verdict() != "no data" {
		t.Errorf("Get row without data = %+v", r)
	}
}
