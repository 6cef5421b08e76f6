package attrcache

import (
	"crypto/rand"
	"encoding/base64"

	"github.com/attrcache/attrcache/internal/format"
)

// NewSessionID returns a new session id: 256 bits from crypto/rand,
// base64url without padding (43 characters of A-Z, a-z, 0-9, '-' and
// '_'). It is safe in cookies and URLs, and far beyond the 64 bits of
// entropy OWASP asks of session ids.
func NewSessionID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails: crypto/rand aborts the program if the system cannot supply randomness
	return sessionIDEncoding.EncodeToString(b[:])
}

// ValidSessionID reports whether id has the shape of an id NewSessionID
// makes (43 characters of the base64url alphabet that decode to 32 bytes)
// or User.NewSessionID makes (the same, a dot, and a user's 16-character
// tag). Web handlers use it to turn away garbage cookies without a Redis
// call. The shape proves nothing about the session: the tag is a digest
// of the user id, which anyone who knows the id can compute.
func ValidSessionID(id string) bool {
	random, _, ok := format.SplitSessionID(id)
	if !ok {
		return false
	}
	_, err := sessionIDEncoding.DecodeString(random)
	return err == nil
}

// sessionIDLen is the length of a NewSessionID id.
const sessionIDLen = 43

// sessionIDEncoding refuses the non-zero padding bits of a last character
// that NewSessionID never writes, so each id has one spelling.
var sessionIDEncoding = base64.RawURLEncoding.Strict()
