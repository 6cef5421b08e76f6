package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Intel(R) Xeon(R) Processor
BenchmarkGet/ctxtimeout=true-2   	       1	     20000 ns/op	  1.000 base-cmds/op	  10000 base-ns/op	  0.25 base-server-µs/op	  1.000 cmds/op	  0.30 server-µs/op
BenchmarkGet/ctxtimeout=true-2   	       1	     20000 ns/op	  1.000 base-cmds/op	  10000 base-ns/op	  0.20 base-server-µs/op	  1.000 cmds/op	  0.40 server-µs/op
BenchmarkGet/ctxtimeout=true-2   	       1	     20000 ns/op	  1.000 base-cmds/op	  10000 base-ns/op	  0.25 base-server-µs/op	  1.000 cmds/op	  0.25 server-µs/op
BenchmarkMemory/at-rest-2	       1	 6175729029 ns/op	       803.6 B/session	        12.65 extra-B/attr	       126.5 extra-B/session	         0 hashtables	       677.1 raw-B/session
BenchmarkSaturation/ctxtimeout=false/Get-2         	       1	6127548062 ns/op	     71382 base-ops/s	     60506 ops/s
BenchmarkAllocs/ctxtimeout=true-2         	       1	 134001486 ns/op	        20.00 get-allocs/op	         8.000 hget-allocs/op	         8.000 hset-allocs/op	        11.00 set-allocs/op
BenchmarkWorstCall/SetMany-2         	       1	   4280726 ns/op	         1.000 cmds/op	      5100 max-call-server-µs	      3585 max-server-µs	      4998 server-µs/op
BenchmarkRueidis/NearCache-2	       1	       688 ns/op	     56000 base-ns/op	     53000 base-p50-ns/op	         0 cmds/op	       466 p50-ns/op
BenchmarkRueidisHitRate-2	       1	 900000000 ns/op	       100.0 base-hit-%	        99.50 hit-%
--- BENCH: something logged
PASS
`

func find(t *testing.T, rows []row, name, ours string) row {
	t.Helper()
	for _, r := range rows {
		if r.name == name && r.ours == ours {
			return r
		}
	}
	t.Fatalf("no row %s %s", name, ours)
	return row{}
}

func TestCells(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var tl tally
	// Server time: per-line ratios 1.2, 2, 1: median 1.2, range 1-2.
	c := res.cells(find(t, targets, "BenchmarkGet/ctxtimeout=true", unitServer), &tl)
	if c[2] != "300 ns" || c[4] != "1.20x (1.20x, 2.00x, 1.00x)" || c[6] != "PASS (PASS in 2 of 3)" {
		t.Errorf("Get row = %q", c)
	}
	if c := res.cells(find(t, targets, "BenchmarkMemory/at-rest", "B/session"), &tl); c[4] != "+126 B" || c[6] != "PASS" {
		t.Errorf("memory row = %q", c)
	}
	if c := res.cells(find(t, targets, "BenchmarkSaturation/ctxtimeout=false/Get", "ops/s"), &tl); c[4] != "0.85x" || c[6] != "MISS" {
		t.Errorf("saturation row = %q", c)
	}
	for _, w := range targets {
		if w.name != "BenchmarkAllocs/ctxtimeout=true" {
			continue
		}
		c := res.cells(w, &tl)
		switch w.ours {
		case "get-allocs/op":
			if c[4] != "+12" || c[6] != "MISS" {
				t.Errorf("Get allocs row = %q", c)
			}
		case "set-allocs/op":
			if c[4] != "+3" || c[6] != "PASS" {
				t.Errorf("Set allocs row = %q", c)
			}
		}
	}
	if c := res.cells(find(t, targets, "BenchmarkWorstCall/SetMany", unitServer), &tl); c[4] != "5.00 ms" || c[6] != "PASS" ||
		!strings.Contains(c[7], "most in one call 5.10 ms") {
		t.Errorf("worst row = %q", c)
	}
	if c := res.cells(find(t, targets, "BenchmarkWorstCall/Rotate", unitServer), &tl); c[4] != "-" || c[6] != "no data" {
		t.Errorf("row without data = %q", c)
	}
}

// TestRueidisRows: the near cache's p50 is judged as a value, in ns, and
// the Cluster's hit rate against one node's.
func TestRueidisRows(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var tl tally
	if c := res.cells(find(t, targets, "BenchmarkRueidis/NearCache", "p50-ns/op"), &tl); c[4] != "466 ns" || c[5] != "<= 500 ns" || c[6] != "PASS" {
		t.Errorf("near-cache p50: %q", c)
	}
	if c := res.cells(find(t, targets, "BenchmarkRueidisHitRate", "hit-%"), &tl); c[4] != "0.99x" || c[5] != ">= 1.00x" || c[6] != "MISS" {
		t.Errorf("hit rate: %q", c)
	}
}

func TestReport(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report(&out, res, true)
	for _, want := range []string{
		"| server time | Get vs HGET, ContextTimeoutEnabled | 300 ns | 250 ns | 1.20x (1.20x, 2.00x, 1.00x) | <= 1.30x | PASS (PASS in 2 of 3) |",
		"targets: 5 PASS, 3 MISS, 36 without data",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
