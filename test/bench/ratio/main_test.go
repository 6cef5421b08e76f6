package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkGet/attrcache-2   	    1000	     50000 ns/op	  4.000 server-µs/op	  40000 p50-ns/op	     696 B/op	      21 allocs/op
BenchmarkGet/raw-HGET-2    	    1000	     40000 ns/op	  1.000 server-µs/op	  40000 p50-ns/op	     272 B/op	       8 allocs/op
BenchmarkGet/attrcache-2   	    1000	     60000 ns/op	  3.000 server-µs/op	  50000 p50-ns/op	     696 B/op	      21 allocs/op
BenchmarkGet/raw-HGET-2    	    1000	     50000 ns/op	  2.000 server-µs/op	  50000 p50-ns/op	     272 B/op	       8 allocs/op
BenchmarkGet/attrcache-2   	    1000	     90000 ns/op	  2.000 server-µs/op	  45000 p50-ns/op	     696 B/op	      21 allocs/op
BenchmarkGet/raw-HGET-2    	    1000	     45000 ns/op	  1.000 server-µs/op	  45000 p50-ns/op	     272 B/op	       8 allocs/op
BenchmarkMemory/values=32B-2  	   10000	     40000 ns/op	        72.72 B/attr	        20.96 extra-B/attr	         0 hashtable	        51.76 raw-B/attr	         0 raw-hashtable
BenchmarkWorstCall/End-2  	   100	     700000 ns/op	  6000 max-server-µs	  4500 server-µs/op
--- BENCH: something logged
PASS
`

func TestCompute(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.get("BenchmarkGet/attrcache", "ns/op")); got != 3 {
		t.Fatalf("attrcache samples = %d, want 3", got)
	}
	// Latency: per-run ratios 1.25, 1.2, 2: median 1.25, range 1.2-2.
	lat := res.ratio("BenchmarkGet/attrcache", "BenchmarkGet/raw-HGET", unitNs)
	if !lat.ok || lat.mid != 1.25 || lat.low != 1.2 || lat.high != 2 {
		t.Errorf("latency ratio = %+v", lat)
	}
	// Server time: per-run ratios 4, 1.5, 2: median 2.
	srv := res.ratio("BenchmarkGet/attrcache", "BenchmarkGet/raw-HGET", unitServer)
	if !srv.ok || srv.mid != 2 || srv.low != 1.5 || srv.high != 4 {
		t.Errorf("server ratio = %+v", srv)
	}
	var tl tally
	cells := res.pairCells(pairs[0], &tl)
	if cells[5] != "MISS" || cells[11] != "PASS" || tl.pass != 1 || tl.miss != 1 {
		t.Errorf("Get row = %q, tally %+v", cells, tl)
	}
	for _, s := range singles {
		switch s.name {
		case "BenchmarkMemory/values=32B":
			c := res.singleCells(s, &tl)
			if c[1] != "21.0 B" || c[4] != "PASS" || !strings.Contains(c[2], "raw 51.8 B") {
				t.Errorf("memory row = %q", c)
			}
		case "BenchmarkWorstCall/End":
			c := res.singleCells(s, &tl)
			if c[1] != "4.50 ms" || c[4] != "PASS" || !strings.Contains(c[2], "longest single call 6.00 ms") {
				t.Errorf("worst End row = %q", c)
			}
		case "BenchmarkWorstCall/GetAll":
			if c := res.singleCells(s, &tl); c[1] != "-" || c[4] != "no data" {
				t.Errorf("row without data = %q", c)
			}
		}
	}
}

func TestReport(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report(&out, res, true)
	for _, want := range []string{"| Get vs HGET | 60 µs | 45 µs | 1.25x (1.20–2.00) | <= 1.05x | MISS |", "| 3.0 µs | 1.0 µs | 2.00x (1.50–4.00) | <= 2.00x | PASS |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
