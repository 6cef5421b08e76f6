package attrcache

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Entry is one attribute as read from Redis.
//
// Printing an Entry with fmt (any verb), logging it with slog (text or
// JSON), or encoding it with encoding/json or a text encoder shows its
// name, times, flags and the length of its value, never the value; so
// does printing a map or slice of entries.
type Entry struct {
	Name  string
	Value []byte // plaintext, or the stored ciphertext when read WithoutDecryption
	// Created is when the attribute was first written; Set and Update keep it.
	Created time.Time
	// Modified is when the value was last written.
	Modified time.Time
	// Expires is when the attribute stops being readable, never later
	// than the session's expiry at the time of the read; zero means it
	// lives as long as its session (see Session.TTL).
	Expires time.Time
	// Encrypted reports how the value is stored, whatever the read asked.
	Encrypted bool
}

// Format prints the Entry with its value redacted, for every verb.
func (e Entry) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "attrcache.Entry{Name:%q, Value:<redacted %d bytes>, Created:%s, Modified:%s, Expires:%s, Encrypted:%t}",
			e.Name, len(e.Value), fmtTime(e.Created), fmtTime(e.Modified), fmtTime(e.Expires), e.Encrypted)
		return
	}
	fmt.Fprintf(f, "{Name:%s Value:<redacted %d bytes> Created:%s Modified:%s Expires:%s Encrypted:%t}",
		e.Name, len(e.Value), fmtTime(e.Created), fmtTime(e.Modified), fmtTime(e.Expires), e.Encrypted)
}

// String returns the redacted form Format prints.
func (e Entry) String() string { return fmt.Sprint(e) }

// LogValue logs the Entry without its value.
func (e Entry) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", e.Name),
		slog.Int("value_bytes", len(e.Value)),
		slog.Time("created", e.Created),
		slog.Time("modified", e.Modified),
		slog.Time("expires", e.Expires),
		slog.Bool("encrypted", e.Encrypted),
	)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Attr is one attribute of a *Many write. Options override the call's
// defaults for this attribute alone, in either direction: WithoutEncryption
// turns a call's WithEncryption off, WithoutExpiration a call's
// WithExpiration.
//
// Printing an Attr with fmt, slog or encoding/json never shows its value.
type Attr struct {
	Name    string
	Value   []byte
	Options []WriteOption
}

// Format prints the Attr with its value redacted, for every verb.
func (a Attr) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "attrcache.Attr{Name:%q, Value:<redacted %d bytes>, Options:%d}", a.Name, len(a.Value), len(a.Options))
		return
	}
	fmt.Fprintf(f, "{Name:%s Value:<redacted %d bytes> Options:%d}", a.Name, len(a.Value), len(a.Options))
}

// String returns the redacted form Format prints.
func (a Attr) String() string { return fmt.Sprint(a) }

// LogValue logs the Attr without its value.
func (a Attr) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", a.Name), slog.Int("value_bytes", len(a.Value)))
}

// MarshalJSON encodes the Entry without its value, so that encoding/json,
// slog's JSON handler and anything built on them (maps and slices of
// entries included) never print a value: {"name":..., "value_bytes":n,
// "created":..., "modified":..., "expires":..., "encrypted":...}. To
// serialise a value on purpose, encode Value yourself.
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name       string     `json:"name"`
		ValueBytes int        `json:"value_bytes"`
		Created    *time.Time `json:"created,omitempty"`
		Modified   *time.Time `json:"modified,omitempty"`
		Expires    *time.Time `json:"expires,omitempty"`
		Encrypted  bool       `json:"encrypted"`
	}{e.Name, len(e.Value), optTime(e.Created), optTime(e.Modified), optTime(e.Expires), e.Encrypted})
}

// MarshalText returns the redacted form String prints, for text encoders
// (encoding/xml, YAML and TOML libraries, map keys).
func (e Entry) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// MarshalJSON encodes the Attr without its value: {"name":...,
// "value_bytes":n, "options":n}.
func (a Attr) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name       string `json:"name"`
		ValueBytes int    `json:"value_bytes"`
		Options    int    `json:"options"`
	}{a.Name, len(a.Value), len(a.Options)})
}

// MarshalText returns the redacted form String prints.
func (a Attr) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
