package format

import "fmt"

// Resend log bounds, mirrored in lib.lua.
const (
	LogEntry   = 12 // bytes of one entry: token (8), deadline mod 2^32 (4)
	LogInline  = 5  // entries field "\x01" holds
	TokenLen   = 8
	MaxWindow  = 30_000 // ms: the latest deadline a call may carry, from now
	Grace      = 30_000 // ms a key outlives its deadline, and a tombstone lives
	SlackClock = 1_000  // ms a stamped expiry may be early before it is refused
)

// LogEntries returns how many entries a resend log field holds, or an
// error for bytes that are not one.
func LogEntries(s string) (int, error) {
	if len(s)%LogEntry != 0 || len(s) > LogInline*LogEntry {
		return 0, fmt.Errorf("resend log of %d bytes is not one attrcache wrote", len(s))
	}
	return len(s) / LogEntry, nil
}

// LiveLogEntries counts the entries of a resend log whose deadline is
// after now (ms); s must be valid (LogEntries).
func LiveLogEntries(s string, now int64) int {
	n := 0
	for i := 0; i+LogEntry <= len(s); i += LogEntry {
		d := un(s[i+TokenLen:], 4)
		if (d-now)&(1<<32-1) < 1<<31 && d != now&(1<<32-1) {
			n++
		}
	}
	return n
}
