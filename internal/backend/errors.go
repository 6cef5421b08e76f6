package backend

import (
	"errors"
	"slices"
	"strings"
)

// What Redis's error replies say, read the same way by every backend:
// each takes the text of a reply its client returned. go-redis keeps a
// reply's "ERR " and rueidis drops it, so the tests look past it.

// ErrorCode is the upper-case word Redis starts an error reply with (ERR,
// WRONGTYPE, READONLY, ...); ok is false when msg starts with none.
func ErrorCode(msg string) (code string, ok bool) {
	code, _, _ = strings.Cut(msg, " ")
	if code == "" || len(code) > 32 || strings.IndexFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return "", false
	}
	return code, true
}

// FunctionMissing reports the reply to an FCALL that did not run: the
// function is not loaded, or FCALL itself is not available (see
// NoFunctions).
func FunctionMissing(msg string) bool {
	return strings.HasPrefix(strings.TrimPrefix(msg, "ERR "), "Function not found") || NoFunctions(msg)
}

// NoFunctions reports the reply of a server without Redis Functions
// (before 7.0, miniredis) or to a user not allowed to use them.
func NoFunctions(msg string) bool {
	return strings.HasPrefix(strings.TrimPrefix(msg, "ERR "), "NOPERM") ||
		strings.Contains(msg, "unknown command") || strings.Contains(msg, "unknown subcommand")
}

// JoinSorted joins errs in the order of their text, so that the same
// masters failing give the same error, whichever answered first.
func JoinSorted(errs []error) error {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}
