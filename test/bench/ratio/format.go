package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// figure formats a value of unit.
func figure(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return ""
	case strings.HasSuffix(unit, "ns/op"):
		return fmtNs(v)
	case strings.Contains(unit, "µs"):
		return fmtNs(v * 1e3)
	case strings.Contains(unit, "us/op"):
		return fmtNs(v*1e3) + " CPU"
	case strings.HasSuffix(unit, "/s"):
		return strconv.FormatFloat(v, 'f', 0, 64) + "/s"
	case strings.HasSuffix(unit, "-%"):
		return strconv.FormatFloat(v, 'f', 2, 64) + "%"
	case unit == "turn-ratio":
		return strconv.FormatFloat(v, 'f', 2, 64) + "x"
	case strings.HasSuffix(unit, "allocs/op"), unit == "overflow-keys", unit == "hashtables":
		return strconv.FormatFloat(v, 'f', 0, 64)
	case strings.HasPrefix(unit, "B/") || strings.Contains(unit, "-B/"):
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtNs(ns float64) string {
	switch {
	case ns == 0:
		return "0"
	case ns >= 1e6:
		return strconv.FormatFloat(ns/1e6, 'f', 2, 64) + " ms"
	case ns >= 1e4:
		return strconv.FormatFloat(ns/1e3, 'f', 0, 64) + " µs"
	case ns >= 1e3:
		return strconv.FormatFloat(ns/1e3, 'f', 1, 64) + " µs"
	case ns >= 10:
		return strconv.FormatFloat(ns, 'f', 0, 64) + " ns"
	}
	return strconv.FormatFloat(ns, 'f', 2, 64) + " ns"
}

// judged formats the judged figure of a row.
func judged(w row, v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	switch w.how {
	case ratioOf, atLeast:
		return strconv.FormatFloat(v, 'f', 2, 64) + "x"
	case diffOf:
		s := figure(v, w.ours)
		if v >= 0 {
			s = "+" + s
		}
		return s
	}
	return figure(v, w.ours)
}

// target formats a row's target.
func target(w row) string {
	if w.limit == 0 {
		return ""
	}
	if w.stated != "" {
		return w.stated
	}
	switch w.how {
	case ratioOf:
		return "<= " + strconv.FormatFloat(w.limit, 'f', 2, 64) + "x"
	case atLeast:
		return ">= " + strconv.FormatFloat(w.limit, 'f', 2, 64) + "x"
	case diffOf:
		return "<= +" + figure(w.limit, w.ours)
	case valueLess:
		return "< " + figure(w.limit, w.ours)
	}
	return "<= " + figure(w.limit, w.ours)
}

// tally counts the verdicts.
type tally struct{ pass, miss, missing int }

func (t *tally) add(v string) {
	switch {
	case strings.HasPrefix(v, "PASS"):
		t.pass++
	case strings.HasPrefix(v, "MISS"):
		t.miss++
	case v == "no data":
		t.missing++
	}
}

// maxListed is how many lines a row lists one by one, in the order of
// the input (the runs, when each file is one run); past it, it shows
// their range.
const maxListed = 4

// cells computes a row of a table.
func (r *results) cells(w row, t *tally) []string {
	m := r.measure(w)
	v := median(m.per)
	res := verdict(w, v)
	if res == "PASS" || res == "MISS" {
		// A target met on some lines only says so.
		passed := 0
		for _, x := range m.per {
			if verdict(w, x) == "PASS" {
				passed++
			}
		}
		if passed != 0 && passed != len(m.per) {
			res = fmt.Sprintf("%s (PASS in %d of %d)", res, passed, len(m.per))
		}
	}
	t.add(res)
	got := judged(w, v)
	switch n := len(m.per); {
	case n > maxListed:
		got += " (" + judged(w, slices.Min(m.per)) + " – " + judged(w, slices.Max(m.per)) + ")"
	case n > 1:
		each := make([]string, n)
		for i, x := range m.per {
			each[i] = judged(w, x)
		}
		got += " (" + strings.Join(each, ", ") + ")"
	}
	if len(m.per) == 0 {
		got = "-"
	}
	var ds []string
	for _, d := range w.details {
		if x := median(r.values(w.name, d.unit)); !math.IsNaN(x) {
			ds = append(ds, d.label+" "+figure(x, d.unit))
		}
	}
	base := ""
	if w.base != "" {
		base = figure(m.base, w.base)
	}
	return []string{w.group, w.what, figure(m.ours, w.ours), base, got, target(w), res, strings.Join(ds, "; ")}
}

type table struct {
	head []string
	rows [][]string
}

func (t table) print(w io.Writer, md bool) {
	if md {
		fmt.Fprintln(w, "| "+strings.Join(t.head, " | ")+" |")
		fmt.Fprintln(w, strings.Repeat("|---", len(t.head))+"|")
		for _, r := range t.rows {
			fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
