// Package format is attrcache's stored format: the keys, the marker that
// heads every hash, the attribute records and the resend log, with their
// codecs. The Lua scripts (attrcache/lua/lib.lua) read and write the same
// bytes; this comment is the reference for both, and lib.lua's helpers
// are named after the functions here. Package attrcache and the operator
// tool (cmd/attrcache) share it; applications do not.
//
// Format 4. No earlier format is read: a hash of another format is
// ErrCorrupt, and End or Purge clears it.
//
// # Keys and hash slots
//
// A key never holds a session id or a user id in clear, only SHA-256
// digests of them, base64url without padding (43 characters). Every key
// carries a Redis Cluster hash tag, so that what one script touches sits
// in one slot:
//
//	unbound session     <ns>:s:{<D>}            D = digest of the session id
//	its resend overflow <ns>:l:{<D>}
//	user attributes     <ns>:u:{<T>}            T = the user's tag (below)
//	user's registry     <ns>:r:{<T>}
//	bound session       <ns>:s:{<T>}<D>
//	overflow of the user and its bound sessions  <ns>:l:{<T>}
//
// A user's tag T is the first 16 characters (96 bits) of the user digest,
// U = digest of "attrcache user" NUL namespace NUL user id: enough to
// name one user among any number a Redis can hold, and short keys. A
// user is known by its tag alone (its keys, and "u" and T as the owner in
// its ciphertexts' associated data), so a bound session's id leads to its
// user. The namespace salts the digest, so equal user ids in two
// namespaces share nothing, and a digest table built for one deployment
// fits no other.
//
// A session bound to a user must live in its user's slot, so that
// starting, rotating and ending it, its registry entry and the user's
// cap on sessions change together in one script (no CROSSSLOT, nothing a
// crash between two commands can tear). The key is computed from the
// session id alone (Store.Session does no I/O), so a bound session's id
// carries the tag: <43 characters of randomness>.<T>. Unbound ids are
// the 43 characters alone.
//
// # The marker
//
// Field "\x00" of a session hash, a user hash and a registry is the
// marker. No attribute name starts with a control character, so the
// marker and the fields below never clash with one. All times are
// milliseconds on Redis's clock, 6-byte big-endian (48 bits last until
// the year 10889 and are exact in Lua's doubles).
//
//	offset size
//	0      1    format, 4
//	1      1    kind: 'L' live session; 'R' session frozen by a rotation
//	            (readable until the rotation deadline, not writable);
//	            'P' pending (the new id of a rotation across slots, not
//	            yet readable); 'E' ended (a tombstone, see below); 'U'
//	            user attributes; 'G' a user's registry
//	2      1    flags: bit 0, the session is bound to a user
//	3      6    created: the base of every record's times (a tombstone:
//	            when the session ended)
//	9      6    deadline: when the session ends (a registry: a time at
//	            or after its latest entry's deadline, up to an eighth of
//	            a session's ttl (an hour at most) after, which its key's
//	            TTL follows; users: 0)
//	15     6    most: the absolute deadline Renew never passes (0: none)
//	21     6    next: no stored record expires before this (0: none
//	            expires); a write at or past it runs a reclaim step (a
//	            registry: no entry's deadline comes before it, so a
//	            Start before it lists a session without reading the
//	            registry when there is room)
//	27     1    tail flags: bit 0 reclaim cycle, bit 1 rotation, bit 2
//	            overflow; the parts follow in that order
//	            reclaim cycle (12): the earliest expiry seen by the cycle
//	              under way (6), its HSCAN cursor (6)
//	            rotation (14): the rotation deadline (6), the token of
//	              the rotation that froze the session (8)
//	            overflow (12): a time at or after that of every entry the
//	              resend log sent to its overflow (6), when the overflow
//	              key expires (6)
//	last   8    the counters: the attribute fields (4), and their bytes,
//	            names and records (4), expired ones included until
//	            reclaimed (a registry: a count never below its entries,
//	            exact whenever a call read the registry whole, and 0
//	            bytes)
//
// So a marker is 36 to 62 bytes, under Redis's default 64-byte limit for
// listpack values: a hash of a few dozen small attributes stays in the
// compact encoding. A write rewrites it only when it changes (the
// counters, a record that expires sooner than any before, a reclaim step,
// the overflow's note); a write that changes only the counters rewrites
// its last 8 bytes after a copy of the rest. The counters make every
// limit check O(1), and they come with the marker every write reads
// anyway. They are exact for what attrcache wrote; a field planted by
// something else is not counted, and deleting one never takes a counter
// below zero.
//
// The deadline, not the key's TTL, decides whether a session is alive.
// The key lives 30 seconds past the deadline, and an ended session leaves
// a tombstone (marker and resend log, and for a session that a rotation
// moved, field "\x02": the digest it moved to) for 30 seconds, so that a
// resent call still finds its log and an End with the old id reaches the
// new one; Redis reclaims both on its own.
//
// # Records
//
// Every other field of a session or user hash is one attribute, named by
// the field. Its value is a header of 1 to 19 bytes, then the value
// bytes (Tink ciphertext when sealed). Times are offsets from the
// marker's created time, so that they take 0, 2, 4 or 6 bytes:
//
//	offset size
//	0      1    bits 0-1: width code of the created offset; bits 2-3: of
//	            the modified delta; bits 4-5: of the expiry offset (code
//	            0: 0 bytes (the value 0), 1: 2, 2: 4, 3: 6); bit 6:
//	            sealed; bit 7: 0
//	1      w    created - base
//	       w    modified - created
//	       w    expires - base (0 bytes: the attribute has no expiry of
//	            its own and lives as long as its hash)
//	       n    value
//
// A record created within a minute of its session and never replaced
// has a 3-byte header; one with an expiry of up to 49 days, 5 to 7.
// A record shorter than its header or with bit 7 set is ErrCorrupt, in
// Lua and in Go.
//
// An attribute keeps its own expiry: the time the caller asked for, not
// cut to the session's idle deadline. Reads report the earlier of it and
// the session's deadline, and nothing of a session outlives it.
//
// A sealed value's associated data binds it to its namespace, its owner
// (session or user), its name, its flags and its expiry (see AD), so a
// sealed record moved, relabelled as plain, or given a later expiry does
// not open.
//
// # The resend log
//
// go-redis and rueidis resend a script whose reply was lost, so the
// server may see a call twice. Each call carries an 8-byte random token,
// the earliest time it can have been sent (t0) and a deadline: a copy
// that arrives after the deadline is refused and not run, and the token
// of every applied call is kept until its deadline, so a copy that
// arrives before is recognised and changes nothing.
//
// Field "\x01" holds the most recent entries, at most 5 of 12 bytes
// (60 bytes: the hash stays a listpack): the token, then the deadline as
// milliseconds modulo 2^32. While the field holds 5 live entries, a
// call's entry goes to the overflow key instead, a sorted set of tokens
// scored by deadline that lives as long as its newest entry (ZADD NX
// there both checks for a resend and records the call), and the marker's
// note is kept at or after the time of every entry there: set a second
// ahead when a call finds it past, so a busy hash rewrites its marker for
// it about once a second. A call checks the overflow only if it was sent
// no later than the note and the overflow may still hold live entries; a
// call is refused when its t0 is after Redis's clock, so an applied call
// always has t0 at or before the time it was applied, and the rule never
// misses one. A quiet hash carries at most the 60-byte field; only a hash
// written more than five times within a call deadline has an overflow,
// for as long as it is that busy. A user's logout everywhere (the registry has no log)
// puts its entry straight into the user's overflow: its token followed
// by the number of sessions it ended in decimal, so a resend reports the
// first run's count.
package format
