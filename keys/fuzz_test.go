package keys_test

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/attrcache/attrcache/keys"
)

// FuzzDecrypt feeds Decrypt arbitrary ciphertext and associated data. The
// keyset in testdata (test-only key material: a disabled key, the primary
// and a secondary key) is the one the committed seeds under
// testdata/fuzz/FuzzDecrypt were sealed with, so the fuzzer starts from
// real ciphertexts: valid ones, and ones moved, truncated, flipped or
// sealed under the disabled key.
//
//	go test -run '^$' -fuzz FuzzDecrypt -fuzzminimizetime 5s ./keys/
//
// (Without a short -fuzzminimizetime, minimizing an interesting input with
// kilobytes of associated data shows as up to a minute at 0 execs/sec.)
func FuzzDecrypt(f *testing.F) {
	js, err := os.ReadFile("testdata/fuzz-kek.json")
	if err != nil {
		f.Fatal(err)
	}
	h, err := keys.Parse(js, nil)
	if err != nil {
		f.Fatal(err)
	}
	// A small cache, so that fuzzing also runs eviction.
	e, err := keys.NewEnvelope(h, keys.WithCacheSize(16))
	if err != nil {
		f.Fatal(err)
	}
	ad := []byte("attrcache\x00c2Vzc2lvbi1kaWdlc3Q\x00roles")
	ct, err := e.Encrypt([]byte("fresh seed"), ad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, ad)
	f.Add(ct[:keys.Overhead], ad)
	f.Add([]byte(nil), []byte(nil))

	f.Fuzz(func(t *testing.T, ct, ad []byte) {
		pt, err := e.Decrypt(ct, ad)
		if err != nil {
			if !errors.Is(err, keys.ErrDecrypt) {
				t.Fatalf("error %v is not ErrDecrypt", err)
			}
			if pt != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		// It opened, so it is authentic: any other associated data or any
		// changed byte must fail, and the plaintext must seal again.
		if _, err := e.Decrypt(ct, append(bytes.Clone(ad), 'x')); err == nil {
			t.Fatal("opened under other associated data too")
		}
		bad := bytes.Clone(ct)
		bad[len(bad)-1] ^= 1
		if _, err := e.Decrypt(bad, ad); err == nil {
			t.Fatal("opened with a flipped byte")
		}
		again, err := e.Encrypt(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.Decrypt(again, ad); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("resealed value does not open: %v", err)
		}
	})
}

// TestFuzzSeeds checks that the committed seeds still are what their names
// say, so the fuzzer keeps starting from real ciphertexts.
func TestFuzzSeeds(t *testing.T) {
	js, err := os.ReadFile("testdata/fuzz-kek.json")
	if err != nil {
		t.Fatal(err)
	}
	h, err := keys.Parse(js, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope(t, h)
	for name, want := range map[string]error{
		"valid_primary":         nil,
		"valid_empty_value":     nil,
		"valid_secondary_key":   nil,
		"disabled_key":          keys.ErrKeyDisabled,
		"moved_attribute":       keys.ErrDecrypt,
		"truncated":             keys.ErrDecrypt,
		"flipped_tag":           keys.ErrDecrypt,
		"empty":                 keys.ErrDecrypt,
		"unknown_key_zero_body": keys.ErrDecrypt,
	} {
		ct, ad := readSeed(t, "testdata/fuzz/FuzzDecrypt/"+name)
		_, err := e.Decrypt(ct, ad)
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("seed %s: Decrypt error %v, want %v", name, err, want)
		}
	}
}

// readSeed reads a two-argument seed file in the go test fuzz v1 format.
func readSeed(t *testing.T, path string) (ct, ad []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a two-argument seed", path)
	}
	var args [2][]byte
	for i, l := range lines[1:] {
		lit, ok := strings.CutPrefix(l, "[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		s, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: line %d is not a []byte literal", path, i+2)
		}
		args[i] = []byte(s)
	}
	return args[0], args[1]
}
