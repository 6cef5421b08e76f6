package attrcache

import (
	"fmt"
	"time"
)

// The stored format. Lua (lua/lib.lua) and Go read the same bytes; this
// comment is the reference for both. All times are milliseconds since the
// Unix epoch on Redis's clock, as 6-byte big-endian integers: 48 bits last
// until the year 10889 and stay exact in Lua's double-precision numbers.
//
// A session is one Redis hash at key "<namespace>:s:<base64url(SHA-256(sid))>".
// Attribute names have no control characters, so fields whose name starts
// with one belong to attrcache itself.
//
// Field "\x00" is the session marker, 56 bytes (format 2):
//
//	offset size
//	0      1    format, 2
//	1      1    state: 'L' live; 'R' rotating (its attributes are being
//	            copied to a new id: readable until the rotation deadline,
//	            never writable); 'E' ended (a tombstone kept for
//	            resends, see below)
//	2      6    created; for a tombstone, when the session ended
//	8      6    deadline: when the session ends
//	14     6    most deadline: the absolute lifetime Renew never passes
//	            (0: none)
//	20     6    count: attribute fields stored, expired ones included
//	            until they are reclaimed
//	26     6    bytes: the names and records of those fields
//	32     6    next expiry: no stored record expires before this (0: no
//	            record has an expiry); a write past it runs a reclaim step
//	38     6    the earliest expiry seen by the reclaim cycle under way
//	44     6    the reclaim cycle's HSCAN cursor (0: between cycles)
//	50     6    rotation deadline (state 'R')
//
// The counters make every limit check O(1): no call reads the whole
// session inside Redis. They are exact for what attrcache wrote; a field
// planted by something else is not counted, and deleting one never takes
// a counter below zero. Format 1 (22 bytes: format 1, state, created, an
// 8-byte token, deadline) predates the counters: it reads the same, and
// the first write upgrades it (count from HLEN; the bytes of records
// written before the upgrade are not known and not counted).
//
// The deadline, not the key's TTL, decides whether a session is alive.
// The key lives 30 seconds past the deadline, and an ended session leaves
// a tombstone for 30 seconds, so that a resent call still finds the log
// below; Redis reclaims both on its own.
//
// Field "\x01" is the resend log of calls recently applied to the session:
//
//	offset size
//	0      6    base time
//	6      6    dropped: no entry applied after this time has been dropped
//	12     10n  entries in the order applied: an 8-byte random call token,
//	            then the time applied as 2 bytes of milliseconds after
//	            base (entries are at most 30 s old, so base moves on
//	            before the count can overflow)
//
// A call whose token is in the log already ran: a resend reports success
// and changes nothing, whatever was written in between. An entry is kept
// 30 seconds, longer than any call may run (see Store's resend window),
// and at most 256 are kept; a call that began before the newest dropped
// entry cannot tell whether it ran, and fails with ErrUnavailable
// instead of risking a second run. Five entries fit Redis's default
// 64-byte listpack value limit.
//
// Every other field is one attribute, named by the field. Its value is a
// 19-byte header followed by the value bytes:
//
//	offset size
//	0      1    version (high nibble, 2) | flags (low nibble; bit 0: encrypted)
//	1      6    created
//	7      6    modified
//	13     6    expires-at; 0 means "lives as long as the session"
//	19     n    value (Tink ciphertext when encrypted)
//
// Version 1 records, written before the resend log existed, have a
// 24-byte header whose last 5 bytes were a call token; they read the same.
// A record shorter than its header or of another version is ErrCorrupt,
// in Lua and in Go.
const (
	headerSize    = 19
	headerSizeV1  = 24
	recordVersion = 2
	flagEncrypted = 1 << 0
	tokenSize     = 8
	markerField   = "\x00"
	logField      = "\x01"
	markerSize    = 56
	markerSizeV1  = 22
)

// Session states in the marker.
const (
	stateLive     = 'L'
	stateRotating = 'R'
	stateEnded    = 'E'
)

// record is a decoded attribute record. value is a slice of the reply
// string: copied only when it becomes an Entry.
type record struct {
	flags    byte
	created  int64
	modified int64
	expires  int64
	value    string
}

func (r record) encrypted() bool { return r.flags&flagEncrypted != 0 }

// live reports whether the record has not expired at now (ms).
func (r record) live(now int64) bool { return r.expires == 0 || r.expires > now }

// u48 reads 6 big-endian bytes; s must hold them.
func u48(s string) int64 {
	var n int64
	for i := range 6 {
		n = n<<8 | int64(s[i])
	}
	return n
}

// p48 appends n as 6 big-endian bytes.
func p48(b []byte, n int64) []byte {
	return append(b, byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// decodeRecord parses a stored record. It never panics on hostile input.
func decodeRecord(s string) (record, error) {
	if len(s) < headerSize {
		return record{}, fmt.Errorf("record of %d bytes is shorter than its %d-byte header", len(s), headerSize)
	}
	hdr := headerSize
	switch v := s[0] >> 4; v {
	case recordVersion:
	case 1:
		if len(s) < headerSizeV1 {
			return record{}, fmt.Errorf("version 1 record of %d bytes is shorter than its %d-byte header", len(s), headerSizeV1)
		}
		hdr = headerSizeV1
	default:
		return record{}, fmt.Errorf("record version %d is not %d", v, recordVersion)
	}
	return record{
		flags:    s[0] & 0x0f,
		created:  u48(s[1:7]),
		modified: u48(s[7:13]),
		expires:  u48(s[13:19]),
		value:    s[hdr:],
	}, nil
}

// encodeRecord builds a version 2 record, as rotation copies it.
func encodeRecord(r record, value []byte) string {
	b := make([]byte, 0, headerSize+len(value))
	b = append(b, recordVersion<<4|r.flags&0x0f)
	b = p48(b, r.created)
	b = p48(b, r.modified)
	b = p48(b, r.expires)
	return string(append(b, value...))
}

// marker is a decoded session marker.
type marker struct {
	state    byte
	created  int64
	deadline int64
	most     int64 // absolute deadline; 0: none
	count    int64
	bytes    int64
	next     int64 // no record expires before this; 0: none expires
	rotation int64 // rotation deadline, state 'R'
	legacy   bool  // format 1: no counters yet
}

// decodeMarker parses a session marker. It never panics on hostile input.
func decodeMarker(s string) (marker, error) {
	switch {
	case len(s) == markerSize && s[0] == 2:
		m := marker{
			state:    s[1],
			created:  u48(s[2:8]),
			deadline: u48(s[8:14]),
			most:     u48(s[14:20]),
			count:    u48(s[20:26]),
			bytes:    u48(s[26:32]),
			next:     u48(s[32:38]),
			rotation: u48(s[50:56]),
		}
		if m.state != stateLive && m.state != stateRotating && m.state != stateEnded {
			return marker{}, fmt.Errorf("session marker state %q is unknown", m.state)
		}
		return m, nil
	case len(s) == markerSizeV1 && s[0] == 1:
		m := marker{state: s[1], created: u48(s[2:8]), deadline: u48(s[16:22]), legacy: true}
		if m.state != stateLive && m.state != stateEnded {
			return marker{}, fmt.Errorf("session marker state %q is unknown", m.state)
		}
		return m, nil
	}
	return marker{}, fmt.Errorf("session marker of %d bytes is not one attrcache wrote", len(s))
}

// readable reports whether the session may be read at now (ms): live, or
// rotating and not past its rotation deadline.
func (m marker) readable(now int64) bool {
	switch {
	case m.state == stateEnded || m.deadline <= now:
		return false
	case m.state == stateRotating:
		return m.rotation > now
	}
	return true
}

// logInfo is what the resend log says, for operators.
type logInfo struct {
	entries int
	dropped int64
}

// decodeLog reads the header and length of a resend log.
func decodeLog(s string) (logInfo, error) {
	if len(s) < 12 || (len(s)-12)%10 != 0 {
		return logInfo{}, fmt.Errorf("resend log of %d bytes is not one attrcache wrote", len(s))
	}
	return logInfo{entries: (len(s) - 12) / 10, dropped: u48(s[6:12])}, nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
