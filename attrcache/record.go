package attrcache

import (
	"fmt"
	"time"
)

// The stored format. Lua (lua/lib.lua) and Go read the same bytes; this
// comment is the reference for both.
//
// A session is one Redis hash at key "<namespace>:s:<base64url(SHA-256(sid))>".
//
// Field "\x00" is the session marker (no attribute name can contain a
// control character, so it never collides). 22 bytes:
//
//	offset size
//	0      1    marker format, 1
//	1      1    state: 'L' live, 'E' ended (a tombstone kept a minute so
//	            that a resent End still succeeds)
//	2      6    created, ms since the Unix epoch, big-endian
//	8      8    token of the Start (or End) call that wrote it
//	16     6    deadline: when the session ends, ms
//
// The deadline, not the key's TTL, decides whether a session is alive. The
// key expires 30 seconds after the deadline, so that a Start resent after
// a lost reply still finds its own token instead of starting the session
// again; Redis reclaims everything then.
//
// Every other field is one attribute, named by the field. Its value is a
// 24-byte header followed by the value bytes:
//
//	offset size
//	0      1    version (high nibble, 1) | flags (low nibble; bit 0: encrypted)
//	1      6    created, ms since the Unix epoch, big-endian
//	7      6    modified, ms
//	13     6    expires-at, ms; 0 means "lives as long as the session"
//	19     5    write token: random per call, so a resent write can
//	            recognise its own first run
//	24     n    value (Tink ciphertext when encrypted)
//
// 48-bit milliseconds last until the year 10889 and stay exact in Lua's
// double-precision numbers. A record shorter than the header or of another
// version is ErrCorrupt, in Lua and in Go.
const (
	headerSize    = 24
	recordVersion = 1
	flagEncrypted = 1 << 0
	tokenSize     = 5
	markerField   = "\x00"
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

// u48 reads 6 big-endian bytes; s must hold them.
func u48(s string) int64 {
	var n int64
	for i := range 6 {
		n = n<<8 | int64(s[i])
	}
	return n
}

// decodeRecord parses a stored record. It never panics on hostile input.
func decodeRecord(s string) (record, error) {
	if len(s) < headerSize {
		return record{}, fmt.Errorf("record of %d bytes is shorter than its %d-byte header", len(s), headerSize)
	}
	if v := s[0] >> 4; v != recordVersion {
		return record{}, fmt.Errorf("record version %d is not %d", v, recordVersion)
	}
	return record{
		flags:    s[0] & 0x0f,
		created:  u48(s[1:7]),
		modified: u48(s[7:13]),
		expires:  u48(s[13:19]),
		value:    s[headerSize:],
	}, nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
