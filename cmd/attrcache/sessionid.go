package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/cli"
)

// maxIDLine bounds what is read from stdin for an id: more than any valid
// id, so that a longer one is refused with its own message rather than
// cut short here.
const maxIDLine = 4 * attrcache.MaxIDBytes

// sessionID returns the session id the command names: the one positional
// argument, or the first line of stdin when it is "-" or -stdin is set.
// The id is never echoed, in errors either.
func (c *invocation) sessionID(pos []string) (string, error) { return c.id(pos, "session id") }

// userID is sessionID for the user commands.
func (c *invocation) userID(pos []string) (string, error) { return c.id(pos, "user id") }

// id reads the id the noun names: a session's (a bearer secret) or a
// user's (personal data). Both are read the same way, under the same
// limit, and never echoed.
func (c *invocation) id(pos []string, noun string) (string, error) {
	switch {
	case c.fromStdin && len(pos) == 0, c.fromStdin && len(pos) == 1 && pos[0] == "-":
		return c.readID(noun)
	case c.fromStdin:
		return "", cli.Usagef("%s: -stdin reads the %s from stdin; give no id argument", c.command, noun)
	case len(pos) == 0:
		return "", cli.Usagef("%s: a %s is required (or '-' to read it from stdin)", c.command, noun)
	case len(pos) > 1:
		// Not quoted back: one of them is likely the id.
		return "", cli.Usagef("%s: %d arguments given; it takes one %s", c.command, len(pos), noun)
	case pos[0] == "-":
		return c.readID(noun)
	}
	return c.checkID(pos[0], noun)
}

// checkID refuses what cannot be an id as a usage error, before the
// library would refuse it as an invalid argument.
func (c *invocation) checkID(id, noun string) (string, error) {
	switch {
	case id == "":
		return "", cli.Usagef("%s: the %s is empty", c.command, noun)
	case len(id) > attrcache.MaxIDBytes:
		return "", cli.Usagef("%s: the %s is %d bytes, over attrcache's limit of %d", c.command, noun, len(id), attrcache.MaxIDBytes)
	}
	return id, nil
}

// readID reads the id from the first line of stdin. Only the line's end
// ("\n" or "\r\n") is removed: anything else is part of the id, as it is
// for the library.
func (c *invocation) readID(noun string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(c.stdin, maxIDLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the %s from stdin: %w", noun, err)
	}
	id := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if id == "" {
		return "", cli.Usagef("%s: no %s on stdin (its first line is empty)", c.command, noun)
	}
	if strings.TrimSpace(id) != id {
		// A pasted id often carries a stray blank; say so rather than
		// report an unknown session or user. The id itself is not shown.
		fmt.Fprintf(c.stderr, "attrcache: %s: note: the id read from stdin starts or ends with blanks; they are part of the id\n", c.command)
	}
	return c.checkID(id, noun)
}
