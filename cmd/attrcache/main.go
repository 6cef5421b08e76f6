// Command attrcache is the operator tool for attrcache sessions. It answers,
// without writing Go, what a session holds, when it ends and what is
// wrong with it, ends or purges one session, and counts what a Redis
// holds. It connects with the configuration the library uses (a YAML
// file given with -config, and ATTRCACHE_* variables; see package config).
//
// Usage:
//
//	attrcache [-config FILE] inspect [-json] [-values] [-stdin] SESSION-ID
//	attrcache [-config FILE] end     [-stdin] SESSION-ID
//	attrcache [-config FILE] purge   [-force] [-stdin] SESSION-ID
//	attrcache [-config FILE] stats   [-json] [-sample N|all] [-count N] [-progress D]
//
// A session id is a bearer secret. The tool hashes it the way the library
// does and prints only its short digest and the Redis key. Read it from
// stdin ("-" as the id, or -stdin) to keep it out of shell history and the
// process list. Values are never printed unless inspect is given -values.
//
// Exit status: 0 when the command did its job, 1 when it failed (the
// problem is named on stderr), 2 for a mistake in the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

const usage = `usage: attrcache [-config FILE] <command> [flags] [SESSION-ID | -]

commands:
  inspect ID   what the session holds, without values: state, deadlines, key TTL,
               attributes (size, created, modified, expires, encrypted, expired,
               corrupt), counters against what is stored, resend log
      -json      machine-readable output (never holds a value without -values)
      -values    also show the values; encrypted ones only when a keyset is configured
  end ID       end the session now (log the user out); also clears a key whose marker
               attrcache cannot read
  purge ID     delete the session's key whatever it holds, for keys attrcache cannot
               read; leaves no tombstone
      -force     purge even a live, readable session (use 'end' for those)
  stats        count sessions, their states, attributes and memory: SCAN of
               <namespace>:s:* on every master (never KEYS), details from a sample
      -json      machine-readable output
      -sample N  examine N keys chosen uniformly (default 10000); 'all' examines every key
      -count N   SCAN COUNT hint (default 1000)
      -progress D  a progress line on stderr every D while scanning (default 2s; 0s: none)

every command takes:
  -config FILE   YAML configuration (default: ATTRCACHE_* environment only); the
                 environment wins over the file, as in the library
inspect, end and purge take:
  -stdin         read the session id from the first line of stdin (same as '-' as the id)

Session ids are secrets, shells keep history and 'ps' shows arguments: give '-'
as the id and paste it (then Enter), or pipe it in (attrcache end - < id.txt),
rather than typing it on the command line. An id that starts with '-' needs
'--' before it. Output names a session by its short digest and its Redis key
only, never by its id.

Keysets (generate, rotate, list) are managed with attrcache-keys.

exit status: 0 ok, 1 failure (named on stderr), 2 usage
`

// quiet drops go-redis's own log lines: the tool reports failures itself,
// on one line.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func main() {
	redis.SetLogger(quiet{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// run executes the command line args and returns the exit status. Tests
// call it directly; main only adds signals and the process's streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	err := c.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "attrcache: %s (run 'attrcache help' for usage)\n", oneLine(ue.msg))
		return 2
	default:
		fmt.Fprintf(stderr, "attrcache: %s%s\n", c.prefix(), oneLine(err.Error()))
		return 1
	}
}

// oneLine keeps an error to one line, whatever it wraps.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cli is one invocation: its streams, and the flags every command shares.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	command        string
	configPath     string
	fromStdin      bool
}

// prefix names the command in an error line, once one is known.
func (c *cli) prefix() string {
	if c.command == "" {
		return ""
	}
	return c.command + ": "
}

// dispatch parses the flags before the command and runs the command.
func (c *cli) dispatch(ctx context.Context, args []string) error {
	// Flags before the command: only -config, so that
	// "attrcache -config f.yaml stats" reads naturally.
	top := flag.NewFlagSet("attrcache", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	top.StringVar(&c.configPath, "config", "", "")
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s", err.Error())
	}
	args = top.Args()
	if len(args) == 0 {
		return usagef("no command given")
	}
	c.command = args[0]
	switch c.command {
	case "help":
		return flag.ErrHelp
	case "inspect":
		return c.inspect(ctx, args[1:])
	case "end":
		return c.end(ctx, args[1:])
	case "purge":
		return c.purge(ctx, args[1:])
	case "stats":
		return c.stats(ctx, args[1:])
	case "keys":
		c.command = ""
		return usagef("keysets are managed with attrcache-keys, not this tool")
	}
	name := c.command
	c.command = ""
	return usagef("unknown command %q", name)
}

// flags returns a flag set for the command with the shared flags on it.
func (c *cli) flags(withID bool) *flag.FlagSet {
	fs := flag.NewFlagSet(c.command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.configPath, "config", c.configPath, "")
	if withID {
		fs.BoolVar(&c.fromStdin, "stdin", false, "")
	}
	return fs
}

// parse parses args with fs, allowing flags after the positional
// arguments ("inspect - -json"), and returns the positional ones. After
// "--" everything is positional, for ids that start with '-'.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := checkFlags(fs, args); err != nil {
		return nil, err
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s", err.Error())
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// maxQuotedFlag is the longest unknown flag an error quotes back. No flag
// of the tool is longer; a session id that starts with '-' and was given
// without "--" before it usually is, and must not be printed.
const maxQuotedFlag = 16

// checkFlags refuses unknown flags before the flag package would quote
// them back whole.
func checkFlags(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		switch {
		case f != nil:
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
				i++ // its value, whatever it looks like
			}
		case name == "h" || name == "help":
		case len(a) <= maxQuotedFlag:
			return usagef("%s: unknown flag %s", fs.Name(), a)
		default:
			return usagef("%s: unknown flag of %d bytes, not shown as it may be a session id (put '--' before an id that starts with '-')", fs.Name(), len(a))
		}
	}
	return nil
}
