package config

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/attrcache/attrcache/keys"
)

// Secret is a setting that must never be printed: a password. Every way
// of showing it (String, %v, %+v, %#v, %q, slog, JSON, text marshalling)
// gives "[redacted]", or "" when the secret is empty, so an operator can
// still tell a missing password from a wrong one. Value returns the
// secret itself.
type Secret string

const redacted = "[redacted]"

// Value returns the secret in clear, for handing to the Redis client.
func (s Secret) Value() string { return string(s) }

// String returns "[redacted]", or "" when s is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the Go syntax of the masked value, for %#v.
func (s Secret) GoString() string { return "config.Secret(" + strconv.Quote(s.String()) + ")" }

// Format applies any verb and flags to the masked value, so no format
// string shows the secret.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// LogValue returns the masked value for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON returns the masked value as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalText returns the masked value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// echo returns a value as an error may show it: quoted, with the
// password of a URL masked, and replaced altogether when it looks like
// key material (a keyset, a PEM block) or holds '@' outside a URL. It is
// the last guard for settings that are not secret, since users type
// secrets into the wrong setting too.
func echo(v string) string {
	switch {
	case keys.LooksLikeKeyset(v) || strings.Contains(v, "-----BEGIN"):
		return "(a value that looks like key material, not shown)"
	case strings.Contains(v, "://") || strings.Contains(v, "@"):
		return strconv.Quote(redactAddr(v))
	}
	return strconv.Quote(v)
}
