package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/cli"
)

// user runs the commands on a user's sessions: the support desk's "where
// is this user logged in" and "log this user out everywhere". They go
// through the library's User (its registry of sessions), never through
// keys built here. The user id is read like a session id and never
// shown: output and errors name the user by its short digest.
func (c *invocation) user(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return cli.Usagef("user: a subcommand is required: sessions or end")
	}
	switch args[0] {
	case "sessions":
		c.command = "user sessions"
		return c.userSessions(ctx, args[1:])
	case "end":
		c.command = "user end"
		return c.userEnd(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	}
	// Not quoted back, even when it reads as a word: a user id given
	// before the subcommand often does.
	return cli.Usagef("user: the first argument must be the subcommand, sessions or end (the one given is not shown)")
}

// userHandle parses the arguments, reads the user id (from the command
// line or stdin) and connects. The caller closes the connection.
func (c *invocation) userHandle(ctx context.Context, fs *flag.FlagSet, args []string) (*conn, *attrcache.User, error) {
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	uid, err := c.userID(pos)
	if err != nil {
		return nil, nil, err
	}
	cn, err := c.connect(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	return cn, cn.store.User(uid), nil
}

// userSessions lists the user's live sessions, oldest first: each
// session's short digest (what 'user end -except' takes, and what the
// library logs), when it started and when it expires, on Redis's clock.
func (c *invocation) userSessions(ctx context.Context, args []string) error {
	fs := c.flags(true)
	cn, u, err := c.userHandle(ctx, fs, args)
	if err != nil {
		return err
	}
	defer cn.close()
	refs, err := u.Sessions(ctx)
	if err != nil {
		return fmt.Errorf("user %s: %w", u.ID(), err)
	}
	if len(refs) == 0 {
		fmt.Fprintf(c.stdout, "user %s has no live session\n", u.ID())
		return nil
	}
	now := cn.redisNow()
	fmt.Fprintf(c.stdout, "user %s: %d live %s, oldest first\n", u.ID(), len(refs), plural(len(refs), "session", "sessions"))
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "SESSION\tCREATED\tEXPIRES")
	for _, r := range refs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Session.ID(), fmtTime(r.Created, now), fmtTime(r.Expires, now))
	}
	return tw.Flush()
}

// userEnd ends every live session of the user, but those -except names
// by their short digest: "log out everywhere (but on this device)". It
// finds the excepted sessions first and ends nothing when one is not
// live, so a mistyped digest never logs out the session meant to stay.
// A session started after that read is ended too.
func (c *invocation) userEnd(ctx context.Context, args []string) error {
	fs := c.flags(true)
	var except digestList
	fs.Var(&except, "except", "")
	cn, u, err := c.userHandle(ctx, fs, args)
	if err != nil {
		return err
	}
	defer cn.close()
	var keep []*attrcache.Session
	if len(except) > 0 {
		refs, err := u.Sessions(ctx)
		if err != nil {
			return fmt.Errorf("user %s: %w", u.ID(), err)
		}
		live := make([]string, len(refs))
		for i, r := range refs {
			live[i] = r.Session.ID()
		}
		for _, d := range except {
			i := slices.Index(live, d)
			if i < 0 {
				return fmt.Errorf("user %s has no live session whose digest is one given to -except (its live sessions: %s); nothing was ended",
					u.ID(), listOrNone(live))
			}
			keep = append(keep, refs[i].Session)
		}
	}
	n, err := u.EndSessions(ctx, keep...)
	if err != nil {
		return fmt.Errorf("user %s: %w", u.ID(), err)
	}
	kept := ""
	if len(keep) > 0 {
		kept = "; kept " + strings.Join(except, ", ")
	}
	fmt.Fprintf(c.stdout, "ended %d %s of user %s%s; every later call on an ended one returns ErrSessionNotFound\n",
		n, plural(n, "session", "sessions"), u.ID(), kept)
	return nil
}

// redisNow is the Store's estimate of Redis's clock, which the session
// times are on; the local clock before the Store has heard from Redis.
func (c *conn) redisNow() time.Time {
	if now, _, ok := c.store.Now(); ok {
		return now
	}
	return time.Now()
}

// digestList is -except: short session digests, as 'user sessions' and
// the library's logs show them. It refuses anything else, so a session or
// user id typed there by mistake is neither used nor shown.
type digestList []string

func (d *digestList) String() string { return strings.Join(*d, ",") }

// Accepts says what -except takes, for the error about a value it
// refused, which does not show the value.
func (d *digestList) Accepts() string {
	return "a session's short digest, 8 characters as 'user sessions' shows it"
}

func (d *digestList) Set(v string) error {
	if len(v) != 8 || strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		return errors.New("not a short digest")
	}
	if !slices.Contains(*d, v) {
		*d = append(*d, v)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
