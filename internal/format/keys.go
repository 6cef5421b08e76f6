package format

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// DigestLen is the length of a digest as keys hold it: base64url of
// SHA-256, without padding.
const DigestLen = 43

// TagLen is the length of a user's tag.
const TagLen = 16

// IDLen is the length of the random part of a session id.
const IDLen = 43

// Digest returns base64url(SHA-256(s)), as keys hold ids.
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// UserDigest returns the digest of a user id in namespace ns: U in the
// package documentation. Its first TagLen characters are the user's tag.
func UserDigest(ns, uid string) string {
	return Digest("attrcache user\x00" + ns + "\x00" + uid)
}

// Keys are the keys one script on an owner (a session or a user) may
// touch; all sit in one hash slot.
type Keys struct {
	Hash     string // the session's or user's hash
	Overflow string // its resend log's overflow
	Registry string // the user's registry; "" for an unbound session
}

// SessionKeys returns the keys of the session whose id has digest d and,
// when bound to a user, carries tag (otherwise "").
func SessionKeys(ns, tag, d string) Keys {
	if tag == "" {
		return Keys{Hash: ns + ":s:{" + d + "}", Overflow: ns + ":l:{" + d + "}"}
	}
	return Keys{
		Hash:     ns + ":s:{" + tag + "}" + d,
		Overflow: ns + ":l:{" + tag + "}",
		Registry: ns + ":r:{" + tag + "}",
	}
}

// UserKeys returns the keys of the user whose tag is tag.
func UserKeys(ns, tag string) Keys {
	return Keys{
		Hash:     ns + ":u:{" + tag + "}",
		Overflow: ns + ":l:{" + tag + "}",
		Registry: ns + ":r:{" + tag + "}",
	}
}

// SplitSessionID splits a session id into its random part and the user
// tag it carries ("" for an unbound id); ok is false when the id has
// neither shape (43 base64url characters, optionally "." and a 16
// character tag).
func SplitSessionID(id string) (random, tag string, ok bool) {
	switch len(id) {
	case IDLen:
		return id, "", b64url(id)
	case IDLen + 1 + TagLen:
		if id[IDLen] != '.' || !b64url(id[:IDLen]) || !b64url(id[IDLen+1:]) {
			return "", "", false
		}
		return id[:IDLen], id[IDLen+1:], true
	}
	return "", "", false
}

// b64url reports whether s is made of base64url characters only.
func b64url(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// SessionKeyParts reads a session hash key of namespace ns back into the
// tag ("" when unbound) and the session digest; ok is false for any
// other key. Operators' tools find keys with SCAN.
func SessionKeyParts(ns, key string) (tag, d string, ok bool) {
	rest, found := strings.CutPrefix(key, ns+":s:{")
	if !found {
		return "", "", false
	}
	inner, after, found := strings.Cut(rest, "}")
	switch {
	case !found:
		return "", "", false
	case after == "" && len(inner) == DigestLen && b64url(inner):
		return "", inner, true
	case len(inner) == TagLen && len(after) == DigestLen && b64url(inner) && b64url(after):
		return inner, after, true
	}
	return "", "", false
}

// AD appends to ad the associated data of a sealed value: the namespace,
// the owner's digest (a session digest, or "u" and the user digest), then
// the name, the record's flags and its expiry, the last three after a NUL
// and separated by 0x1f, a byte no name holds:
//
//	ns NUL owner NUL name 0x1f flags 0x1f expires
//
// flags and expires are decimal; flags is the record's, which has the
// sealed bit (1) whenever there is associated data, so a record relabelled
// as plain, or re-flagged, does not open; expires is 0 for none.
// Everything before the last NUL is the same for every attribute of one
// owner: a Cipher may derive a per-owner key from it (package keys does).
func AD(ad []byte, ns, owner, name string, expires int64) []byte {
	ad = append(ad, ns...)
	ad = append(ad, 0)
	ad = append(ad, owner...)
	ad = append(ad, 0)
	ad = append(ad, name...)
	ad = append(ad, 0x1f, '1', 0x1f)
	return strconv.AppendInt(ad, expires, 10)
}
