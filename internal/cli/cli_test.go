package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/attrcache/attrcache/internal/cli"
)

func TestExit(t *testing.T) {
	p := cli.Program{Name: "tool", Usage: "usage: tool <command>\n"}
	for _, tc := range []struct {
		err            error
		command        string
		code           int
		stdout, stderr string
	}{
		{nil, "list", 0, "", ""},
		{flag.ErrHelp, "", 0, "usage: tool <command>\n", ""},
		{fmt.Errorf("inspect: %w", flag.ErrHelp), "inspect", 0, "usage: tool <command>\n", ""},
		{cli.Usagef("list: -in FILE is\nrequired"), "list", 2, "", "tool: list: -in FILE is required (run 'tool help' for usage)\n"},
		{fmt.Errorf("wrapped: %w", cli.Usagef("bad")), "", 2, "", "tool: bad (run 'tool help' for usage)\n"},
		{errors.New("redis\n  unreachable"), "stats", 1, "", "tool: stats: redis unreachable\n"},
		{errors.New("no such file"), "", 1, "", "tool: no such file\n"},
	} {
		var out, errOut bytes.Buffer
		code := p.Exit(tc.err, tc.command, &out, &errOut)
		if code != tc.code || out.String() != tc.stdout || errOut.String() != tc.stderr {
			t.Errorf("Exit(%v, %q) = %d, stdout %q, stderr %q; want %d, %q, %q",
				tc.err, tc.command, code, out.String(), errOut.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
