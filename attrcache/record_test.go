package attrcache

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// header builds a record header the way write.lua does.
func header(flags byte, created, modified, expires int64, token string) string {
	var b []byte
	b = append(b, recordVersion<<4|flags)
	for _, n := range []int64{created, modified, expires} {
		for i := 5; i >= 0; i-- {
			b = append(b, byte(n>>(8*i)))
		}
	}
	return string(b) + token
}

func TestDecodeRecord(t *testing.T) {
	now := time.Now().UnixMilli()
	rec := header(flagEncrypted, now, now+1, now+2, "tokn5") + "value"
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
	// The largest 48-bit time round-trips (year 10889).
	r, err = decodeRecord(header(0, 1<<48-1, 0, 0, "12345"))
	if err != nil || r.created != 1<<48-1 || r.encrypted() {
		t.Fatalf("max time: %+v %v", r, err)
	}
	for _, bad := range []string{"", "\x10", header(0, 1, 1, 0, "1234"), "\x20" + strings.Repeat("\x00", 30), "\x00" + strings.Repeat("\x00", 30)} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%q) accepted", bad)
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

// FuzzEntry feeds arbitrary stored bytes through the read path: decoding
// and decryption must return an Entry or ErrCorrupt/ErrDecrypt, never
// panic, and never return a value for a record that was tampered with.
func FuzzEntry(f *testing.F) {
	st, err := New(fakeScripter{}, WithCipher(testCipher(f)))
	if err != nil {
		f.Fatal(err)
	}
	sess := st.Session("fuzz-session")
	ct, err := st.cipher.Encrypt([]byte("plaintext"), sess.appendAD(nil, "name"))
	if err != nil {
		f.Fatal(err)
	}
	sealed := header(flagEncrypted, 1, 2, 0, "abcde") + string(ct)
	f.Add(sealed, "name")
	f.Add(sealed, "other")
	f.Add(header(0, 1, 2, 3, "abcde")+"clear", "name")
	f.Add(header(flagEncrypted, 1, 2, 3, "abcde"), "name")
	f.Add("\x10short", "name")
	f.Add("", "name")
	f.Fuzz(func(t *testing.T, rec, name string) {
		e, err := sess.entry(name, rec, readSpec{})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if e.Encrypted {
			// Only the genuine ciphertext under its own name opens.
			if rec[headerSize:] != string(ct) || name != "name" || !bytes.Equal(e.Value, []byte("plaintext")) {
				t.Fatalf("a tampered ciphertext opened to %d bytes", len(e.Value))
			}
		} else if string(e.Value) != rec[headerSize:] {
			t.Fatal("clear value differs from the stored bytes")
		}
		// Raw reads never fail on a well-formed record.
		if _, err := sess.entry(name, rec, readSpec{raw: true}); err != nil {
			t.Fatalf("raw read of a decodable record: %v", err)
		}
	})
}
