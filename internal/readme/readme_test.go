package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEMatchesExamples fails when README.md is not what its template
// and the examples make: a snippet edited in the README alone, or an
// example changed without the README.
func TestREADMEMatchesExamples(t *testing.T) {
	want, err := Render("../..")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("README.md differs from README.md.tpl and the examples at line %d:\n  README:   %q\n  expected: %q\nrun `go run ./internal/readme` from the repository's root", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("README.md has %d lines, the template and the examples make %d: run `go run ./internal/readme`", len(gl), len(wl))
	}
	if n := strings.Count(want, "\n"); n > 300 {
		t.Errorf("README.md is %d lines: a newcomer's README is at most 300 (move depth to docs/)", n)
	}
}

func TestTidy(t *testing.T) {
	got := tidy("\n\trdb := exampleClient() // README: rdb := redis.NewClient(&redis.Options{Addr: \"localhost:6379\"})\n\tdefer done() // README: -\n\tfmt.Println(1)\n\t// Output:\n\t// 1\n")
	want := "rdb := redis.NewClient(&redis.Options{Addr: \"localhost:6379\"})\nfmt.Println(1)\n"
	if got != want {
		t.Fatalf("tidy:\n%s\nwant:\n%s", got, want)
	}
}
