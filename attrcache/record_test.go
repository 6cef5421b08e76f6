package attrcache

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// header builds a version 2 record header the way write.lua does.
func header(flags byte, created, modified, expires int64) string {
	b := []byte{recordVersion<<4 | flags}
	for _, n := range []int64{created, modified, expires} {
		b = p48(b, n)
	}
	return string(b)
}

// headerV1 builds a version 1 header, as attrcache wrote before the
// resend log: 5 more bytes of call token.
func headerV1(flags byte, created, modified, expires int64, token string) string {
	h := header(flags, created, modified, expires)
	return "\x10" + h[1:] + token
}

func TestDecodeRecord(t *testing.T) {
	now := time.Now().UnixMilli()
	rec := header(flagEncrypted, now, now+1, now+2) + "value"
	if len(rec)-len("value") != headerSize {
		t.Fatalf("header is %d bytes, want %d", len(rec)-len("value"), headerSize)
	}
	r, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !r.encrypted() || r.created != now || r.modified != now+1 || r.expires != now+2 || r.value != "value" {
		t.Fatalf("decoded %+v", r)
	}
	// Version 1 records read the same, their token skipped.
	r, err = decodeRecord(headerV1(0, now, now, 0, "tokn5") + "old")
	if err != nil || r.value != "old" || r.created != now || r.encrypted() {
		t.Fatalf("version 1: %+v %v", r, err)
	}
	// The largest 48-bit time round-trips (year 10889).
	r, err = decodeRecord(header(0, 1<<48-1, 0, 0))
	if err != nil || r.created != 1<<48-1 || r.encrypted() {
		t.Fatalf("max time: %+v %v", r, err)
	}
	for _, bad := range []string{"", "\x20", header(0, 1, 1, 0)[:18], headerV1(0, 1, 1, 0, "1234"),
		"\x30" + strings.Repeat("\x00", 30), "\x00" + strings.Repeat("\x00", 30)} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%q) accepted", bad)
		}
	}
	if got := encodeRecord(record{flags: 1, created: 5, modified: 6, expires: 7}, []byte("v")); got != header(1, 5, 6, 7)+"v" {
		t.Fatalf("encodeRecord = %q", got)
	}
}

// markerBytes builds a format 2 marker the way lib.lua's enc does.
func markerBytes(state byte, created, deadline, most, count, size, next, cycmin, cursor, rotation int64) string {
	b := []byte{2, state}
	for _, n := range []int64{created, deadline, most, count, size, next, cycmin, cursor, rotation} {
		b = p48(b, n)
	}
	return string(b)
}

func TestDecodeMarker(t *testing.T) {
	m, err := decodeMarker(markerBytes('L', 1, 2000, 3000, 4, 5, 6, 7, 8, 9))
	if err != nil || m.state != stateLive || m.created != 1 || m.deadline != 2000 || m.most != 3000 ||
		m.count != 4 || m.bytes != 5 || m.next != 6 || m.rotation != 9 || m.legacy {
		t.Fatalf("decoded %+v %v", m, err)
	}
	if !m.readable(1999) || m.readable(2000) {
		t.Fatal("a live session is readable exactly before its deadline")
	}
	r, err := decodeMarker(markerBytes('R', 1, 2000, 0, 0, 0, 0, 0, 0, 1500))
	if err != nil || !r.readable(1499) || r.readable(1500) {
		t.Fatalf("a rotating session is readable until its rotation deadline: %+v %v", r, err)
	}
	if e, _ := decodeMarker(markerBytes('E', 1, 0, 0, 0, 0, 0, 0, 0, 0)); e.readable(0) {
		t.Fatal("a tombstone is readable")
	}
	// Format 1: state, created, token, deadline.
	v1 := "\x01L" + string(p48(nil, 10)) + "tokentok" + string(p48(nil, 900))
	m, err = decodeMarker(v1)
	if err != nil || !m.legacy || m.created != 10 || m.deadline != 900 || !m.readable(899) {
		t.Fatalf("format 1: %+v %v", m, err)
	}
	for _, bad := range []string{"", "junk", markerBytes('X', 0, 0, 0, 0, 0, 0, 0, 0, 0), markerBytes('L', 0, 0, 0, 0, 0, 0, 0, 0, 0)[:55],
		"\x01R" + v1[2:], "\x03" + markerBytes('L', 0, 0, 0, 0, 0, 0, 0, 0, 0)[1:]} {
		if _, err := decodeMarker(bad); err == nil {
			t.Errorf("decodeMarker(%q) accepted", bad)
		}
	}
}

func testCipher(t testing.TB) Cipher {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fuzzStore is a Store on a miniredis that the fuzz targets never call.
func fuzzStore(f *testing.F, opts ...Option) *Store {
	mr := miniredis.RunT(f)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	f.Cleanup(func() { rdb.Close() })
	st, err := New(rdb, opts...)
	if err != nil {
		f.Fatal(err)
	}
	return st
}

// FuzzEntry feeds arbitrary stored bytes through the read path: decoding
// and decryption must return an Entry or ErrCorrupt/ErrDecrypt, never
// panic, and never return a value for a record that was tampered with.
func FuzzEntry(f *testing.F) {
	st := fuzzStore(f, WithCipher(testCipher(f)))
	sess := st.Session("fuzz-session")
	ct, err := st.cipher.Encrypt([]byte("plaintext"), sess.appendAD(nil, "name"))
	if err != nil {
		f.Fatal(err)
	}
	sealed := header(flagEncrypted, 1, 2, 0) + string(ct)
	f.Add(sealed, "name")
	f.Add(sealed, "other")
	f.Add(headerV1(flagEncrypted, 1, 2, 0, "abcde")+string(ct), "name")
	f.Add(header(0, 1, 2, 3)+"clear", "name")
	f.Add(header(flagEncrypted, 1, 2, 3), "name")
	f.Add("\x20short", "name")
	f.Add("", "name")
	v := view{m: marker{state: stateLive, deadline: 1 << 47}, now: 0}
	f.Fuzz(func(t *testing.T, raw, name string) {
		rec, found, err := v.record(name, raw)
		var e *Entry
		if err == nil && found {
			e, err = sess.entry(name, rec, v, readSpec{})
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !found {
			return
		}
		if e.Encrypted {
			// Only the genuine ciphertext under its own name opens.
			if rec.value != string(ct) || name != "name" || !bytes.Equal(e.Value, []byte("plaintext")) {
				t.Fatalf("a tampered ciphertext opened to %d bytes", len(e.Value))
			}
		} else if string(e.Value) != rec.value {
			t.Fatal("clear value differs from the stored bytes")
		}
		// Raw reads never fail on a well-formed record.
		if _, err := sess.entry(name, rec, v, readSpec{raw: true}); err != nil {
			t.Fatalf("raw read of a decodable record: %v", err)
		}
	})
}

// FuzzMarker feeds arbitrary markers to the reader: it must judge them or
// call them corrupt, never panic.
func FuzzMarker(f *testing.F) {
	f.Add(markerBytes('L', 1, 2, 3, 4, 5, 6, 7, 8, 9), int64(1))
	f.Add(markerBytes('R', 1, 2, 3, 4, 5, 6, 7, 8, 9), int64(1))
	f.Add("\x01L"+string(p48(nil, 10))+"tokentok"+string(p48(nil, 900)), int64(5))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, m string, now int64) {
		v, err := new(Session).judge(m, now)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !v.m.readable(now) {
			t.Fatal("judge passed a session it cannot read")
		}
	})
}
