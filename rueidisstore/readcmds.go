package rueidisstore

import (
	"hash/maphash"
	"slices"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// Building a command costs rueidis a CRC16 of its key (the slot, which
// it computes on every client) and a buffer from its pool; on a cache
// hit, that was a fifth of a Get. A Store reads the same few commands
// over and over (the marker and one name of a session's hash), so it
// keeps the last read built for each of readSlots slots, pinned so that
// rueidis does not recycle it, and sends it again. A pinned command is
// only read by rueidis, so goroutines share it.
const readSlots = 1024

// maxKeptFields bounds the fields of a kept HMGET: Gets and small
// GetManys; a larger read is built each time.
const maxKeptFields = 4

type readCmds struct {
	seed  maphash.Seed
	slots [readSlots]atomic.Pointer[builtRead]
}

// builtRead is a read command and what it reads.
type builtRead struct {
	key    string
	fields []string // nil: HGETALL
	cmd    rueidis.Cacheable
}

func newReadCmds() *readCmds { return &readCmds{seed: maphash.MakeSeed()} }

// hmget returns HMGET key fields, cacheable with a static TTL.
func (rc *readCmds) hmget(c rueidis.Client, key string, fields []string) rueidis.Cacheable {
	if len(fields) == 0 || len(fields) > maxKeptFields {
		return c.B().Hmget().Key(key).Field(fields...).Cache().ToStaticTTL()
	}
	slot := &rc.slots[(maphash.String(rc.seed, key)^maphash.String(rc.seed, fields[len(fields)-1]))%readSlots]
	if e := slot.Load(); e != nil && e.key == key && slices.Equal(e.fields, fields) {
		return e.cmd
	}
	cmd := c.B().Hmget().Key(key).Field(fields...).Cache().ToStaticTTL().Pin()
	slot.Store(&builtRead{key: key, fields: slices.Clone(fields), cmd: cmd})
	return cmd
}

// hmgetPair is hmget of two fields, without a slice of them unless the
// command is built.
func (rc *readCmds) hmgetPair(c rueidis.Client, key, f0, f1 string) rueidis.Cacheable {
	slot := &rc.slots[(maphash.String(rc.seed, key)^maphash.String(rc.seed, f1))%readSlots]
	if e := slot.Load(); e != nil && e.key == key && len(e.fields) == 2 && e.fields[0] == f0 && e.fields[1] == f1 {
		return e.cmd
	}
	cmd := c.B().Hmget().Key(key).Field(f0, f1).Cache().ToStaticTTL().Pin()
	slot.Store(&builtRead{key: key, fields: []string{f0, f1}, cmd: cmd})
	return cmd
}

// hgetall returns HGETALL key, cacheable with a static TTL.
func (rc *readCmds) hgetall(c rueidis.Client, key string) rueidis.Cacheable {
	slot := &rc.slots[maphash.String(rc.seed, key)%readSlots]
	if e := slot.Load(); e != nil && e.key == key && e.fields == nil {
		return e.cmd
	}
	cmd := c.B().Hgetall().Key(key).Cache().ToStaticTTL().Pin()
	slot.Store(&builtRead{key: key, cmd: cmd})
	return cmd
}
