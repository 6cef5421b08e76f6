// Command attrcache is the operator tool for attrcache sessions. It answers,
// without writing Go, what a session holds, when it ends and what is
// wrong with it, ends or purges one session, lists a user's sessions and
// logs a user out everywhere, and counts what a Redis holds. It connects
// with the configuration the library uses (a YAML file given with
// -config, and ATTRCACHE_* variables; see package config).
//
// Usage:
//
//	attrcache [-config FILE] inspect [-json] [-values] [-stdin] SESSION-ID
//	attrcache [-config FILE] end     [-stdin] SESSION-ID
//	attrcache [-config FILE] purge   [-force] [-stdin] SESSION-ID
//	attrcache [-config FILE] user sessions [-stdin] USER-ID
//	attrcache [-config FILE] user end [-except DIGEST]... [-stdin] USER-ID
//	attrcache [-config FILE] stats   [-json] [-sample N|all] [-count N] [-progress D]
//
// A session id is a bearer secret. The tool hashes it the way the library
// does and prints only its short digest and the Redis key. Read it from
// stdin ("-" as the id, or -stdin) to keep it out of shell history and the
// process list. Values are never printed unless inspect is given -values.
//
// A user id is personal data, read the same way. The user commands work
// through the library's registry of the user's sessions (User.Sessions,
// User.EndSessions) and name the user, and each session, by its short
// digest only: the digest 'user sessions' shows is what 'user end
// -except' takes to keep one session ("log out everywhere else").
//
// Exit status: 0 when the command did its job, 1 when it failed (the
// problem is named on stderr), 2 for a mistake in the command line.
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/cli"
)

const usage = `usage: attrcache [-config FILE] <command> [flags] [SESSION-ID | USER-ID | -]

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
  user sessions USER-ID
               the user's live sessions, oldest first: each one's short digest,
               when it started and when it expires
  user end USER-ID
               end every live session of the user now (log out everywhere)
      -except DIGEST  keep the session with this short digest, as 'user sessions'
                 shows it (log out everywhere else); may be given more than once;
                 nothing is ended when it names no live session
  stats        count sessions, their states, attributes and memory: SCAN of
               <namespace>:s:* on every master (never KEYS), details from a sample
      -json      machine-readable output
      -sample N  examine N keys chosen uniformly (default 10000); 'all' examines every key
      -count N   SCAN COUNT hint (default 1000)
      -progress D  a progress line on stderr every D while scanning (default 2s; 0s: none)

every command takes:
  -config FILE   YAML configuration (default: ATTRCACHE_* environment only); the
                 environment wins over the file, as in the library
inspect, end, purge and the user commands take:
  -stdin         read the session or user id from the first line of stdin (same as
                 '-' as the id)

Session ids are secrets, shells keep history and 'ps' shows arguments: give '-'
as the id and paste it (then Enter), or pipe it in (attrcache end - < id.txt),
rather than typing it on the command line. User ids are personal data: give
them the same way. An id that starts with '-' needs '--' before it. Output
names a session by its short digest and its Redis key only, and a user by its
short digest only, never by its id.

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

var program = cli.Program{Name: "attrcache", Usage: usage}

// run executes the command line args and returns the exit status. Tests
// call it directly; main only adds signals and the process's streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &invocation{stdin: stdin, stdout: stdout, stderr: stderr}
	return program.Exit(c.dispatch(ctx, args), c.command, stdout, stderr)
}

// invocation is one run of the tool: its streams, and the flags every
// command shares.
type invocation struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	command        string
	configPath     string
	fromStdin      bool
}

// dispatch parses the flags before the command and runs the command.
func (c *invocation) dispatch(ctx context.Context, args []string) error {
	// Flags before the command: only -config, so that
	// "attrcache -config f.yaml stats" reads naturally.
	top := cli.NewFlagSet("")
	top.StringVar(&c.configPath, "config", "", "")
	args, err := cli.Parse(top, args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return cli.Usagef("no command given")
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
	case "user":
		return c.user(ctx, args[1:])
	case "stats":
		return c.stats(ctx, args[1:])
	case "keys":
		c.command = ""
		return cli.Usagef("keysets are managed with attrcache-keys, not this tool")
	}
	name := c.command
	c.command = ""
	return cli.Usagef("unknown command %s", cli.Quote(name))
}

// flags returns a flag set for the command with the shared flags on it.
func (c *invocation) flags(withID bool) *flag.FlagSet {
	fs := cli.NewFlagSet(c.command)
	fs.StringVar(&c.configPath, "config", c.configPath, "")
	if withID {
		fs.BoolVar(&c.fromStdin, "stdin", false, "")
	}
	return fs
}
