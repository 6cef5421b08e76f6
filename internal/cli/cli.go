// Package cli is the command-line plumbing that attrcache's tools share:
// exit statuses, one-line error reports, usage errors, and flag parsing
// whose errors never show what was typed as a value (a session id given
// as -json=ID, say). It is internal to this module: applications must not
// use it.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Program is one command-line tool.
type Program struct {
	Name  string // what its error lines begin with, such as "attrcache"
	Usage string // printed on standard output for help
}

// UsageError is a mistake in the command line; Exit gives it status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// Exit reports err as every attrcache tool does and returns the exit
// status:
//
//   - nil: 0.
//   - flag.ErrHelp (help, -h): the usage on standard output, 0.
//   - a *UsageError: "<name>: <problem> (run '<name> help' for usage)"
//     on stderr, 2.
//   - anything else: "<name>: <command>: <error>" on stderr, 1; command
//     is the subcommand that failed, or "".
//
// Each report is one line, whatever the error wraps.
func (p Program) Exit(err error, command string, stdout, stderr io.Writer) int {
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, p.Usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s (run '%s help' for usage)\n", p.Name, OneLine(ue.Msg), p.Name)
		return 2
	}
	if command != "" {
		command += ": "
	}
	fmt.Fprintf(stderr, "%s: %s%s\n", p.Name, command, OneLine(err.Error()))
	return 1
}

// OneLine keeps a message to one line, whatever it wraps.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// maxShownWord is the longest argument Quote shows. No command or flag
// name of the tools is longer; a secret given where a name belongs (a
// session id that starts with '-', a keyset) usually is.
const maxShownWord = 16

// word is what command and flag names are made of.
var word = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// Quote returns an argument as a message may name it, quoted, when it
// reads as a command or flag name: at most 16 letters, digits, '-' and
// '_'. Anything else may be a secret typed in the wrong place and is
// described by its length only.
func Quote(arg string) string {
	switch {
	case len(arg) <= maxShownWord && word.MatchString(arg):
		return strconv.Quote(arg)
	case len(arg) == 1:
		return "of 1 byte (not shown)"
	}
	return fmt.Sprintf("of %d bytes (not shown)", len(arg))
}
