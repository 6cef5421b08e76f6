package format

import (
	"errors"
	"fmt"
)

// Fields of attrcache's own; no attribute name starts with a control
// character.
const (
	MarkerField = "\x00"
	LogField    = "\x01"
	MovedField  = "\x02" // a rotated session's tombstone: the digest it moved to
)

// Version is the marker's format.
const Version = 4

// Marker kinds.
const (
	Live     = 'L'
	Frozen   = 'R'
	Pending  = 'P'
	Ended    = 'E'
	User     = 'U'
	Registry = 'G'
)

const (
	markerBase  = 28 // bytes up to and with the tail flags
	countersLen = 8  // the counters, last: attribute count (4), stored bytes (4)
	tailCycle   = 1 << 0
	tailRot     = 1 << 1
	tailOvf     = 1 << 2
	flagBound   = 1 << 0
)

// Marker is a decoded marker.
type Marker struct {
	Kind     byte
	Bound    bool
	Created  int64
	Deadline int64
	Most     int64
	Next     int64

	CycleMin, Cursor int64  // a reclaim cycle under way (Cursor != 0)
	RotDeadline      int64  // a frozen session: until when it reads
	RotToken         string // and the rotation that froze it (8 bytes)
	MovedAt          int64  // at or after the time of every entry the resend log sent to the overflow
	OverflowExpires  int64  // when the overflow key expires

	// Count and Bytes are the hash's attribute fields and their bytes
	// (names and records), which the limits bind.
	Count, Bytes int64
}

// ErrMarker is the cause of every marker decoding error.
var ErrMarker = errors.New("not a marker attrcache wrote")

// ParseMarker decodes a marker. It never panics on hostile input.
func ParseMarker(s string) (Marker, error) {
	if len(s) < markerBase+countersLen || s[0] != Version {
		if len(s) > 0 && s[0] != Version {
			return Marker{}, fmt.Errorf("%w: format %d, not %d", ErrMarker, s[0], Version)
		}
		return Marker{}, fmt.Errorf("%w: %d bytes", ErrMarker, len(s))
	}
	m := Marker{
		Kind:     s[1],
		Bound:    s[2]&flagBound != 0,
		Created:  Uint48(s[3:]),
		Deadline: Uint48(s[9:]),
		Most:     Uint48(s[15:]),
		Next:     Uint48(s[21:]),
	}
	switch m.Kind {
	case Live, Frozen, Pending, Ended, User, Registry:
	default:
		return Marker{}, fmt.Errorf("%w: kind %q", ErrMarker, m.Kind)
	}
	tail, rest := s[27], s[markerBase:len(s)-countersLen]
	counters := s[len(s)-countersLen:]
	m.Count, m.Bytes = un(counters, 4), un(counters[4:], 4)
	want := 0
	if tail&tailCycle != 0 {
		want += 12
	}
	if tail&tailRot != 0 {
		want += 14
	}
	if tail&tailOvf != 0 {
		want += 12
	}
	if tail&^(tailCycle|tailRot|tailOvf) != 0 || len(rest) != want {
		return Marker{}, fmt.Errorf("%w: tail flags %#x with %d bytes", ErrMarker, tail, len(rest))
	}
	if tail&tailCycle != 0 {
		m.CycleMin, m.Cursor, rest = Uint48(rest), Uint48(rest[6:]), rest[12:]
	}
	if tail&tailRot != 0 {
		m.RotDeadline, m.RotToken, rest = Uint48(rest), rest[6:14], rest[14:]
	}
	if tail&tailOvf != 0 {
		m.MovedAt, m.OverflowExpires = Uint48(rest), Uint48(rest[6:])
	}
	return m, nil
}

// Append appends m's encoding to b.
func (m Marker) Append(b []byte) []byte {
	var flags, tail byte
	if m.Bound {
		flags |= flagBound
	}
	if m.Cursor != 0 {
		tail |= tailCycle
	}
	if m.RotToken != "" {
		tail |= tailRot
	}
	if m.MovedAt != 0 {
		tail |= tailOvf
	}
	b = append(b, Version, m.Kind, flags)
	b = p48(b, m.Created)
	b = p48(b, m.Deadline)
	b = p48(b, m.Most)
	b = p48(b, m.Next)
	b = append(b, tail)
	if tail&tailCycle != 0 {
		b = p48(p48(b, m.CycleMin), m.Cursor)
	}
	if tail&tailRot != 0 {
		b = p48(b, m.RotDeadline)
		b = append(b, (m.RotToken + "\x00\x00\x00\x00\x00\x00\x00\x00")[:8]...)
	}
	if tail&tailOvf != 0 {
		b = p48(p48(b, m.MovedAt), m.OverflowExpires)
	}
	return pn(pn(b, m.Count, 4), m.Bytes, 4)
}

// String encodes m.
func (m Marker) String() string { return string(m.Append(nil)) }

// Session reports whether the marker heads a session's hash.
func (m Marker) Session() bool {
	return m.Kind == Live || m.Kind == Frozen || m.Kind == Pending || m.Kind == Ended
}

// Readable reports whether a session may be read at now (ms): live, or
// frozen by a rotation and not past its rotation deadline; and not past
// its deadline. A user hash is always readable.
func (m Marker) Readable(now int64) bool {
	switch m.Kind {
	case User:
		return true
	case Live:
		return m.Deadline > now
	case Frozen:
		return m.Deadline > now && m.RotDeadline > now
	}
	return false
}

// Uint48 reads 6 big-endian bytes (a stored time); s must hold them.
func Uint48(s string) int64 { return un(s, 6) }

// un reads n big-endian bytes; s must hold them.
func un(s string, n int) int64 {
	var v int64
	for i := range n {
		v = v<<8 | int64(s[i])
	}
	return v
}

// p48 appends v as 6 big-endian bytes.
func p48(b []byte, v int64) []byte { return pn(b, v, 6) }

// pn appends v as n big-endian bytes.
func pn(b []byte, v int64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// ParseEntry decodes a registry entry: the session's created time and
// deadline.
func ParseEntry(s string) (created, deadline int64, ok bool) {
	if len(s) != 12 {
		return 0, 0, false
	}
	return Uint48(s), Uint48(s[6:]), true
}
