package attrcache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SessionInfo is what Inspect finds in a session's key: everything an
// operator needs to answer "what does this session hold, when does it
// end, and what is wrong with it", and never a value.
type SessionInfo struct {
	// Key is the session's Redis key; ID the short digest logs use.
	Key, ID string
	// Exists reports whether the key exists at all.
	Exists bool
	// State is "live", "rotating" (being moved to a new id), "expired"
	// (past its deadline; the key lingers briefly), "ended" (a
	// tombstone), "corrupt" (the key holds something attrcache did not
	// write), or "none" (no key).
	State string
	// Problem says what is wrong when State is "corrupt".
	Problem string
	// Created is when the session started (for a tombstone: when it
	// ended). Expires is its deadline; MaxExpires its absolute lifetime
	// (zero: none); RotationEnds when a rotating session stops being
	// readable under this id.
	Created, Expires, MaxExpires, RotationEnds time.Time
	// KeyTTL is the key's own time to live in Redis (-1: none).
	KeyTTL time.Duration
	// Counted and CountedBytes are the session's counters, which the
	// limits are checked against; Stored and StoredBytes what the hash
	// holds. They differ only when something other than attrcache wrote
	// to the hash, or for a session written before the counters existed.
	Counted, CountedBytes, Stored, StoredBytes int64
	// NextReclaim is when the writes' reclaim next looks for expired
	// records (zero: no record has an expiry).
	NextReclaim time.Time
	// ResendLog is the number of recent calls the resend log holds;
	// ResendLogDropped the newest time of an entry it dropped because it
	// was full (zero: none), before which a call cannot tell whether it
	// ran.
	ResendLog        int
	ResendLogDropped time.Time
	// Legacy reports a marker of format 1, written before the counters
	// existed; the next write upgrades it.
	Legacy bool
	// Attributes are the attribute fields, sorted by name, expired and
	// corrupt ones included.
	Attributes []AttrInfo
	// Now is Redis's clock, as estimated, when the session was read.
	Now time.Time
}

// AttrInfo describes one attribute field without its value.
type AttrInfo struct {
	Name string
	// Size is the field's stored size: name, header and value.
	Size int
	// ValueBytes is the stored value's length (the ciphertext's, when
	// encrypted).
	ValueBytes                 int
	Created, Modified, Expires time.Time
	Encrypted, Expired         bool
	// Corrupt says why the record cannot be read; empty when it can.
	Corrupt string
}

// Inspect reads the session's key with one HGETALL and one PTTL and
// describes it, whatever state it is in; it never returns a value. It
// fails only when Redis cannot be read (ErrUnavailable) or sid is
// invalid (ErrInvalid).
func (s *Session) Inspect(ctx context.Context) (*SessionInfo, error) {
	c := call{op: opInspect}
	ctx = s.begin(ctx, &c)
	info, err := s.inspect(ctx)
	return info, s.finish(ctx, &c, err)
}

// InspectKey is Inspect for a session known by its Redis key rather than
// its id, as operators' tools find keys with SCAN: key must be one of
// this Store's session keys (namespace ":s:" and a digest), or the call
// fails with ErrInvalid.
func (s *Store) InspectKey(ctx context.Context, key string) (*SessionInfo, error) {
	digest, ok := strings.CutPrefix(key, s.ns+":s:")
	sum, err := base64.RawURLEncoding.DecodeString(digest)
	if !ok || err != nil || len(sum) != sha256.Size {
		sess := s.handle(nil)
		sess.bad = invalidf("the key is not a session key of namespace " + s.ns)
		return sess.Inspect(ctx)
	}
	return s.handle(sum).Inspect(ctx)
}

func (s *Session) inspect(ctx context.Context) (*SessionInfo, error) {
	if s.bad != nil {
		return nil, s.bad
	}
	st := s.store
	now, _, err := st.clock.ensure(ctx, st.rdb)
	if err != nil {
		return nil, err
	}
	info := &SessionInfo{Key: s.keys[0], ID: s.logID, Now: time.UnixMilli(now), State: "none"}
	pipe, err := st.pipeline(ctx, s.keys[0])
	if err != nil {
		return nil, err
	}
	all := pipe.HGetAll(ctx, s.keys[0])
	pttl := pipe.PTTL(ctx, s.keys[0])
	typ := pipe.Type(ctx, s.keys[0])
	if _, err := pipe.Exec(ctx); err != nil && !redis.HasErrorPrefix(all.Err(), "WRONGTYPE") {
		return nil, unavailable(err)
	}
	info.KeyTTL = pttl.Val()
	switch t := typ.Val(); t {
	case "none":
		return info, nil
	case "hash":
	default:
		info.Exists, info.State, info.Problem = true, "corrupt", "the key is a "+t+", not a hash"
		return info, nil
	}
	info.Exists = true
	hash := all.Val()
	raw, ok := hash[markerField]
	if !ok {
		info.State, info.Problem = "corrupt", "the hash has no session marker"
	} else if m, err := decodeMarker(raw); err != nil {
		info.State, info.Problem = "corrupt", err.Error()
	} else {
		pm := m.exported()
		info.State = pm.StateAt(time.UnixMilli(now))
		info.Created, info.Expires, info.MaxExpires = pm.Created, pm.Expires, pm.MaxExpires
		info.Counted, info.CountedBytes, info.Legacy = pm.Counted, pm.CountedBytes, pm.Legacy
		info.NextReclaim = msTime(m.next)
		switch info.State {
		case "ended":
			info.Expires = time.Time{}
		case "rotating":
			info.RotationEnds = pm.RotationEnds
		}
	}
	if l, ok := hash[logField]; ok {
		if li, err := decodeLog(l); err == nil {
			info.ResendLog = li.entries
			info.ResendLogDropped = msTime(li.dropped)
		} else if info.Problem == "" {
			info.Problem = err.Error()
		}
	}
	for name, v := range hash {
		if internalField(name) {
			continue
		}
		a := AttrInfo{Name: name, Size: len(name) + len(v)}
		info.Stored++
		info.StoredBytes += int64(a.Size)
		if r, err := decodeRecord(v); err != nil {
			a.Corrupt = err.Error()
		} else {
			a.ValueBytes = len(r.value)
			a.Created, a.Modified, a.Expires = msTime(r.created), msTime(r.modified), msTime(r.expires)
			a.Encrypted, a.Expired = r.encrypted(), !r.live(now)
		}
		info.Attributes = append(info.Attributes, a)
	}
	slices.SortFunc(info.Attributes, func(a, b AttrInfo) int { return strings.Compare(a.Name, b.Name) })
	return info, nil
}

// String summarises the session on one line, for logs.
func (i *SessionInfo) String() string {
	return fmt.Sprintf("session %s: %s, %d attributes (%d bytes)", i.ID, i.State, i.Stored, i.StoredBytes)
}

// The fields of a session hash that are attrcache's own, for tools that
// read session keys themselves. Attribute names never start with a
// control byte, so every field that does is attrcache's.
const (
	// MarkerField holds the session marker (see ParseMarker).
	MarkerField = markerField
	// LogField holds the resend log.
	LogField = logField
)

// Marker is what a session's marker field says, for tools that read
// session keys themselves (SCAN, pipelines) instead of through Inspect,
// which reads the whole hash.
type Marker struct {
	// State is "live", "rotating" or "ended"; StateAt adds "expired".
	State string
	// Created is when the session started (for a tombstone: when it
	// ended); Expires its deadline; MaxExpires its absolute deadline
	// (zero: none); RotationEnds when a rotating session stops being
	// readable under its id.
	Created, Expires, MaxExpires, RotationEnds time.Time
	// Counted and CountedBytes are the session's attribute counters.
	// Legacy reports a format 1 marker, which has none (both are 0).
	Counted, CountedBytes int64
	Legacy                bool
}

// ParseMarker decodes the value of a session's MarkerField, with the
// decoder attrcache's reads use; bytes attrcache did not write are
// ErrCorrupt.
func ParseMarker(raw string) (Marker, error) {
	m, err := decodeMarker(raw)
	if err != nil {
		return Marker{}, fmt.Errorf("%w: %s", ErrCorrupt, err.Error())
	}
	return m.exported(), nil
}

// exported is the marker as tools see it.
func (m marker) exported() Marker {
	var state string
	switch m.state {
	case stateLive:
		state = "live"
	case stateRotating:
		state = "rotating"
	case stateEnded:
		state = "ended"
	}
	return Marker{
		State:   state,
		Created: msTime(m.created), Expires: msTime(m.deadline), MaxExpires: msTime(m.most), RotationEnds: msTime(m.rotation),
		Counted: m.count, CountedBytes: m.bytes, Legacy: m.legacy,
	}
}

// StateAt is the session's state at now on Redis's clock (see
// Store.Now): State, or "expired" for a live or rotating session past its
// deadline. A rotating session past its rotation deadline reads as ended.
func (m Marker) StateAt(now time.Time) string {
	switch {
	case m.State == "ended":
		return "ended"
	case !m.Expires.After(now):
		return "expired"
	case m.State == "rotating" && !m.RotationEnds.After(now):
		return "ended"
	}
	return m.State
}
