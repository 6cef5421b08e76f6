package format

import (
	"errors"
	"fmt"
)

// Record is a decoded attribute record; its times are absolute (ms).
// Value is a slice of the stored string: copied only when it becomes an
// Entry.
type Record struct {
	Sealed   bool
	Created  int64
	Modified int64
	Expires  int64 // 0: no expiry of its own
	Value    string
}

// Live reports whether the record has not expired at now (ms).
func (r Record) Live(now int64) bool { return r.Expires == 0 || r.Expires > now }

const flagSealed = 1 << 6

// widths maps a width code to its bytes.
var widths = [4]int{0, 2, 4, 6}

// ErrRecord is the cause of every record decoding error.
var ErrRecord = errors.New("not a record attrcache wrote")

// HeaderLen returns the length of the header of a record of base; ok is
// false for bytes that are not a record.
func HeaderLen(s string) (n int, ok bool) {
	if len(s) == 0 || s[0]&0x80 != 0 {
		return 0, false
	}
	b := s[0]
	n = 1 + widths[b&3] + widths[b>>2&3] + widths[b>>4&3]
	return n, len(s) >= n
}

// ParseRecord decodes a record of a hash whose marker's created time is
// base. It never panics on hostile input.
func ParseRecord(s string, base int64) (Record, error) {
	h, ok := HeaderLen(s)
	if !ok {
		if len(s) == 0 {
			return Record{}, fmt.Errorf("%w: empty", ErrRecord)
		}
		if s[0]&0x80 != 0 {
			return Record{}, fmt.Errorf("%w: flags %#x", ErrRecord, s[0])
		}
		return Record{}, fmt.Errorf("%w: %d bytes is shorter than its %d-byte header", ErrRecord, len(s), h)
	}
	b := s[0]
	wc, wm, we := widths[b&3], widths[b>>2&3], widths[b>>4&3]
	r := Record{Sealed: b&flagSealed != 0, Value: s[h:]}
	r.Created = base + un(s[1:], wc)
	r.Modified = r.Created + un(s[1+wc:], wm)
	if we > 0 {
		r.Expires = base + un(s[1+wc+wm:], we)
	}
	return r, nil
}

// AppendRecord appends the encoding of r (its Value ignored) followed by
// value to b, for a hash of base. Times before base are stored as base.
func AppendRecord(b []byte, r Record, base int64, value []byte) []byte {
	co := max(r.Created-base, 0)
	md := max(r.Modified-max(r.Created, base), 0)
	var eo int64
	if r.Expires != 0 {
		eo = max(r.Expires-base, 1)
	}
	c, m, e := code(co), code(md), code(eo)
	flags := c | m<<2 | e<<4
	if r.Sealed {
		flags |= flagSealed
	}
	b = append(b, flags)
	b = pn(b, co, widths[c])
	b = pn(b, md, widths[m])
	b = pn(b, eo, widths[e])
	return append(b, value...)
}

// code is the width code of v.
func code(v int64) byte {
	switch {
	case v == 0:
		return 0
	case v < 1<<16:
		return 1
	case v < 1<<32:
		return 2
	}
	return 3
}
