package cli_test

import (
	"errors"
	"flag"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/internal/cli"
)

// secret stands for a session id typed where a flag's value goes.
const secret = "Zx9sEcretSessi0nIdThatMustNeverShow"

// countFlag is a custom value that says what it accepts.
type countFlag struct{ n int }

func (c *countFlag) String() string { return strconv.Itoa(c.n) }
func (c *countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("bad count " + s) // quotes the value: must not reach the user
	}
	c.n = n
	return nil
}
func (c *countFlag) Accepts() string { return "a number of keys" }

// opaqueFlag is a custom value that says nothing of itself.
type opaqueFlag struct{}

func (opaqueFlag) String() string     { return "" }
func (opaqueFlag) Set(s string) error { return errors.New("not " + s) }

type flags struct {
	fs      *flag.FlagSet
	json    *bool
	n       *int
	n64     *int64
	u       *uint
	u64     *uint64
	f       *float64
	d       *time.Duration
	s       *string
	count   countFlag
	funcArg string
}

func newFlags() *flags {
	v := &flags{fs: cli.NewFlagSet("inspect")}
	v.json = v.fs.Bool("json", false, "")
	v.n = v.fs.Int("n", 0, "")
	v.n64 = v.fs.Int64("n64", 0, "")
	v.u = v.fs.Uint("u", 0, "")
	v.u64 = v.fs.Uint64("u64", 0, "")
	v.f = v.fs.Float64("f", 0, "")
	v.d = v.fs.Duration("d", 0, "")
	v.s = v.fs.String("s", "", "")
	v.fs.Var(&v.count, "count", "")
	v.fs.Var(opaqueFlag{}, "opaque", "")
	v.fs.Func("func", "", func(s string) error {
		if s != "ok" {
			return errors.New("refused " + s)
		}
		v.funcArg = s
		return nil
	})
	return v
}

// TestParseNeverShowsValues: whatever a flag of any kind refuses, and
// whatever argument cannot be read, the error names the flag and what it
// takes, never the value.
func TestParseNeverShowsValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"-json=" + secret}, "-json takes true or false"},
		{[]string{"--json=" + secret}, "-json takes true or false"},
		{[]string{"-n=" + secret}, "-n takes a whole number"},
		{[]string{"-n", secret}, "-n takes a whole number"},
		{[]string{"-n64", secret}, "-n64 takes a whole number"},
		{[]string{"-u", "-" + secret}, "-u takes a whole number, 0 or more"},
		{[]string{"-u64=" + secret}, "-u64 takes a whole number, 0 or more"},
		{[]string{"-f=" + secret}, "-f takes a number"},
		{[]string{"-d", secret}, "-d takes a duration"},
		{[]string{"-count=" + secret}, "-count takes a number of keys"},
		{[]string{"-opaque=" + secret}, "-opaque takes another value"},
		{[]string{"-func=" + secret}, "-func takes another value"},
		{[]string{"x", "-json=" + secret}, ""}, // after a positional argument: not a flag for Parse
		{[]string{"---json=" + secret}, "an argument that is no flag"},
		{[]string{"-=" + secret}, "an argument that is no flag"},
		{[]string{"-" + secret}, "unknown flag of 35 bytes (not shown)"},
		{[]string{"-" + secret + "=x"}, "unknown flag of 35 bytes (not shown)"},
		{[]string{"-nope=" + secret}, "unknown flag -nope"},
		{[]string{"-s=ok", "-json", "-n=" + secret}, "-n takes a whole number"},
	} {
		v := newFlags()
		_, err := cli.Parse(v.fs, tc.args)
		if tc.says == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.args, err)
			}
			continue
		}
		var ue *cli.UsageError
		if !errors.As(err, &ue) {
			t.Fatalf("%q: error %v is not a *UsageError", tc.args, err)
		}
		if !strings.HasPrefix(ue.Msg, "inspect: ") || !strings.Contains(ue.Msg, tc.says) {
			t.Errorf("%q: %q, want the flag set's name and %q", tc.args, ue.Msg, tc.says)
		}
		if strings.Contains(err.Error(), secret[:8]) {
			t.Errorf("%q: the value shows: %q", tc.args, err)
		}
	}
}

// TestParseInterspersedNeverShowsValues: flags after positional
// arguments are read too, with the same errors.
func TestParseInterspersedNeverShowsValues(t *testing.T) {
	v := newFlags()
	_, err := cli.ParseInterspersed(v.fs, []string{"-", "-json=" + secret})
	if err == nil || strings.Contains(err.Error(), secret[:8]) || !strings.Contains(err.Error(), "-json takes true or false") {
		t.Errorf("error %v", err)
	}
	v = newFlags()
	_, err = cli.ParseInterspersed(v.fs, []string{"id", "-n"})
	if err == nil || err.Error() != "inspect: flag needs an argument: -n" {
		t.Errorf("missing value: %v", err)
	}
}

// TestParseSetsValues: the values behind the flags are set as the flag
// package sets them.
func TestParseSetsValues(t *testing.T) {
	v := newFlags()
	pos, err := cli.ParseInterspersed(v.fs, []string{"a", "-json", "-n", "-3", "b", "-u64=7", "-d=2s", "-count", "9", "-func=ok", "-s", "x", "--", "-json=no"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"a", "b", "-json=no"}) {
		t.Errorf("positional = %q", pos)
	}
	if !*v.json || *v.n != -3 || *v.u64 != 7 || *v.d != 2*time.Second || v.count.n != 9 || v.funcArg != "ok" || *v.s != "x" {
		t.Errorf("values: json %v n %d u64 %d d %v count %d func %q s %q", *v.json, *v.n, *v.u64, *v.d, v.count.n, v.funcArg, *v.s)
	}
	// Parsing again (as ParseInterspersed does) wraps nothing twice.
	if _, err := cli.Parse(v.fs, []string{"-json=false"}); err != nil || *v.json {
		t.Errorf("second parse: %v, json %v", err, *v.json)
	}
	for _, h := range []string{"-h", "-help", "--help"} {
		if _, err := cli.Parse(newFlags().fs, []string{h}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: %v, want flag.ErrHelp", h, err)
		}
	}
}

func TestQuote(t *testing.T) {
	for arg, want := range map[string]string{
		"frobnicate":         `"frobnicate"`,
		"master-keyset":      `"master-keyset"`,
		"abcdefghijklmnop":   `"abcdefghijklmnop"`, // 16: the longest shown
		"abcdefghijklmnopq":  "of 17 bytes (not shown)",
		secret:               "of 35 bytes (not shown)",
		"":                   "of 0 bytes (not shown)",
		"9":                  "of 1 byte (not shown)",
		"1abc":               "of 4 bytes (not shown)",
		"a=b":                "of 3 bytes (not shown)",
		"s3cr3t pw":          "of 9 bytes (not shown)",
		"hunter2/x":          "of 9 bytes (not shown)",
		"{\"key\":[]}":       "of 10 bytes (not shown)",
		"redis://:pw@h:6379": "of 18 bytes (not shown)",
		"x\n":                "of 2 bytes (not shown)",
		"Ünïcode":            "of 9 bytes (not shown)",
	} {
		if got := cli.Quote(arg); got != want {
			t.Errorf("Quote(%q) = %s, want %s", arg, got, want)
		}
	}
}
