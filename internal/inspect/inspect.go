// Package inspect describes what a session's or user's key holds, from its
// raw fields, for the operator tool, the demo and the tests: everything an
// operator needs to answer "what does this hold, when does it end, and
// what is wrong with it", and never a value.
package inspect

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/format"
)

// Info is what a key holds.
type Info struct {
	// Key is the Redis key.
	Key string
	// Exists reports whether the key exists at all.
	Exists bool
	// State is "live", "rotating" (being moved to a new id), "pending"
	// (the new id of a rotation, not yet live), "expired" (past its
	// deadline; the key lingers briefly), "ended" (a tombstone), "user" (a
	// user's attributes), "corrupt" (the key holds something attrcache did
	// not write), or "none" (no key).
	State string
	// Problem says what is wrong when State is "corrupt".
	Problem string
	// Bound reports a session bound to a user.
	Bound bool
	// Created is when the session started (for a tombstone: when it
	// ended; for a user: its first attribute). Expires is its deadline;
	// MaxExpires its absolute lifetime (zero: none); RotationEnds when a
	// rotating session stops being readable under this id.
	Created, Expires, MaxExpires, RotationEnds time.Time
	// MovedTo is the digest a rotation moved an ended session to.
	MovedTo string
	// KeyTTL is the key's own time to live in Redis (-1: none).
	KeyTTL time.Duration
	// Counted and CountedBytes are the counters the limits are checked
	// against; Stored and StoredBytes what the hash holds. They differ only
	// when something other than attrcache wrote to the hash.
	Counted, CountedBytes, Stored, StoredBytes int64
	// NextReclaim is when the writes' reclaim next looks for expired
	// records (zero: no record has an expiry).
	NextReclaim time.Time
	// ResendLog is the number of recent calls the resend log holds, and
	// ResendLive how many of them a resend may still meet; Overflow
	// reports a busy hash whose older entries are in the overflow key.
	ResendLog, ResendLive int
	Overflow              bool
	// Attributes are the attribute fields, sorted by name, expired and
	// corrupt ones included.
	Attributes []Attr
	// Now is Redis's clock, as estimated, when the key was read.
	Now time.Time
}

// Attr describes one attribute field without its value.
type Attr struct {
	Name string
	// Size is the field's stored size: name, header and value.
	Size int
	// ValueBytes is the stored value's length (the ciphertext's, when
	// sealed).
	ValueBytes                 int
	Created, Modified, Expires time.Time
	Sealed, Expired            bool
	// Corrupt says why the record cannot be read; empty when it can.
	Corrupt string
}

// Decode describes a key from what HGETALL, TYPE and PTTL said of it, at
// now (ms, Redis's clock).
func Decode(key, typ string, fields map[string]string, keyTTL time.Duration, now int64) *Info {
	info := &Info{Key: key, State: "none", KeyTTL: keyTTL, Now: time.UnixMilli(now)}
	switch typ {
	case "none":
		return info
	case "hash":
	default:
		info.Exists, info.State, info.Problem = true, "corrupt", "the key is a "+typ+", not a hash"
		return info
	}
	info.Exists = true
	raw, ok := fields[format.MarkerField]
	var m format.Marker
	if !ok {
		info.State, info.Problem = "corrupt", "the hash has no marker"
	} else if mk, err := format.ParseMarker(raw); err != nil {
		info.State, info.Problem = "corrupt", err.Error()
	} else {
		m = mk
		info.State = State(m, now)
		info.Bound = m.Bound
		info.Created, info.Expires, info.MaxExpires = msTime(m.Created), msTime(m.Deadline), msTime(m.Most)
		info.NextReclaim = msTime(m.Next)
		info.Overflow = m.MovedAt != 0
		info.Counted, info.CountedBytes = m.Count, m.Bytes
		switch m.Kind {
		case format.Ended:
			info.Expires = time.Time{}
			info.MovedTo = fields[format.MovedField]
		case format.Frozen, format.Pending:
			info.RotationEnds = msTime(m.RotDeadline)
		}
	}
	if l, ok := fields[format.LogField]; ok {
		if n, err := format.LogEntries(l); err == nil {
			info.ResendLog, info.ResendLive = n, format.LiveLogEntries(l, now)
		} else if info.Problem == "" {
			info.Problem = err.Error()
		}
	}
	for name, v := range fields {
		if name == "" || name[0] < 0x20 {
			continue
		}
		a := Attr{Name: name, Size: len(name) + len(v)}
		info.Stored++
		info.StoredBytes += int64(a.Size)
		if r, err := format.ParseRecord(v, m.Created); err != nil {
			a.Corrupt = err.Error()
		} else {
			a.ValueBytes = len(r.Value)
			a.Created, a.Modified, a.Expires = msTime(r.Created), msTime(r.Modified), msTime(r.Expires)
			a.Sealed, a.Expired = r.Sealed, !r.Live(now)
		}
		info.Attributes = append(info.Attributes, a)
	}
	slices.SortFunc(info.Attributes, func(a, b Attr) int { return strings.Compare(a.Name, b.Name) })
	return info
}

// State is the state a marker gives at now (ms): see Info.State.
func State(m format.Marker, now int64) string {
	switch m.Kind {
	case format.User:
		return "user"
	case format.Registry:
		return "registry"
	case format.Ended:
		return "ended"
	}
	switch {
	case m.Deadline <= now:
		return "expired"
	case m.Kind == format.Frozen && m.RotDeadline <= now:
		return "ended"
	case m.Kind == format.Frozen:
		return "rotating"
	case m.Kind == format.Pending:
		return "pending"
	}
	return "live"
}

// Client is what Read needs: any go-redis client.
type Client interface {
	Pipeline() redis.Pipeliner
}

// Read reads key with HGETALL, PTTL and TYPE in one pipeline to the node
// that holds it, and describes it at now (ms, Redis's clock). With now 0
// or less it describes it at that node's clock, read with TIME in the
// same pipeline.
func Read(ctx context.Context, rdb Client, key string, now int64) (*Info, error) {
	c := rdb
	if cc, ok := rdb.(interface {
		MasterForKey(ctx context.Context, key string) (*redis.Client, error)
	}); ok {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		c = node
	}
	pipe := c.Pipeline()
	var clock *redis.TimeCmd
	if now <= 0 {
		clock = pipe.Time(ctx)
	}
	all := pipe.HGetAll(ctx, key)
	pttl := pipe.PTTL(ctx, key)
	typ := pipe.Type(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil && !redis.HasErrorPrefix(all.Err(), "WRONGTYPE") {
		return nil, err
	}
	if err := errors.Join(pttl.Err(), typ.Err()); err != nil {
		return nil, err
	}
	if clock != nil {
		t, err := clock.Result()
		if err != nil {
			return nil, err
		}
		now = t.UnixMilli()
	}
	fields := all.Val()
	if all.Err() != nil {
		fields = nil
	}
	return Decode(key, typ.Val(), fields, pttl.Val(), now), nil
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
