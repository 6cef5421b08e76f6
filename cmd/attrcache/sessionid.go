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
// id (attrcache.MaxIDBytes), so that a longer one is refused by
// the library with its own message rather than cut short here.
const maxIDLine = 4 * attrcache.MaxIDBytes

// sessionID returns the id the command names: the one positional
// argument, or the first line of stdin when it is "-" or -stdin is set.
// The id is never echoed, in errors either.
func (c *invocation) sessionID(pos []string) (string, error) {
	switch {
	case c.fromStdin && len(pos) == 0, c.fromStdin && len(pos) == 1 && pos[0] == "-":
		return c.readID()
	case c.fromStdin:
		return "", cli.Usagef("%s: -stdin reads the session id from stdin; give no id argument", c.command)
	case len(pos) == 0:
		return "", cli.Usagef("%s: a session id is required (or '-' to read it from stdin)", c.command)
	case len(pos) > 1:
		// Not quoted back: one of them is likely the id.
		return "", cli.Usagef("%s: %d arguments given; it takes one session id", c.command, len(pos))
	case pos[0] == "-":
		return c.readID()
	}
	return c.checkID(pos[0])
}

// checkID refuses what cannot be a session id as a usage error, before
// the library would refuse it as an invalid argument.
func (c *invocation) checkID(id string) (string, error) {
	switch {
	case id == "":
		return "", cli.Usagef("%s: the session id is empty", c.command)
	case len(id) > attrcache.MaxIDBytes:
		return "", cli.Usagef("%s: the session id is %d bytes, over attrcache's limit of %d", c.command, len(id), attrcache.MaxIDBytes)
	}
	return id, nil
}

// readID reads the id from the first line of stdin. Only the line's end
// ("\n" or "\r\n") is removed: anything else is part of the id, as it is
// for the library.
func (c *invocation) readID() (string, error) {
	line, err := bufio.NewReader(io.LimitReader(c.stdin, maxIDLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the session id from stdin: %w", err)
	}
	id := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if id == "" {
		return "", cli.Usagef("%s: no session id on stdin (its first line is empty)", c.command)
	}
	if strings.TrimSpace(id) != id {
		// A pasted id often carries a stray blank; say so rather than
		// report an unknown session. The id itself is not shown.
		fmt.Fprintf(c.stderr, "attrcache: %s: note: the id read from stdin starts or ends with blanks; they are part of the id\n", c.command)
	}
	return c.checkID(id)
}
