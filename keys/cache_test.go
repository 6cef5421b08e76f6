package keys

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// fakeAEAD tells cache entries apart.
type fakeAEAD struct{ n int }

func (fakeAEAD) Encrypt(p, _ []byte) ([]byte, error) { return p, nil }
func (fakeAEAD) Decrypt(c, _ []byte) ([]byte, error) { return c, nil }

func TestCacheBound(t *testing.T) {
	for _, size := range []int{0, 1, 3, 63, 64, 127, 128, 1000, 1025, 10_000} {
		c := newScopeCache(size)
		for i := range 3*size + 10 {
			c.add([]byte("scope-"+strconv.Itoa(i)), fakeAEAD{i})
			if n := c.len(); n > size {
				t.Fatalf("size %d: cache holds %d entries", size, n)
			}
		}
		if n := c.len(); n != size {
			t.Errorf("size %d: full cache holds %d entries", size, n)
		}
		total := 0
		for i := range c.shards {
			total += c.shards[i].limit
		}
		if total != size {
			t.Errorf("size %d: shard limits add up to %d", size, total)
		}
	}
}

func TestCacheLRU(t *testing.T) {
	c := newScopeCache(3)
	if len(c.shards) != 1 {
		t.Fatalf("a small cache has %d shards", len(c.shards))
	}
	for _, k := range []string{"a", "b", "c"} {
		c.add([]byte(k), fakeAEAD{})
	}
	c.get([]byte("a")) // b is now the least recently used
	c.add([]byte("d"), fakeAEAD{})
	if c.get([]byte("b")) != nil {
		t.Error("b survived, though least recently used")
	}
	for _, k := range []string{"a", "c", "d"} {
		if c.get([]byte(k)) == nil {
			t.Errorf("%s was evicted", k)
		}
	}
	// add keeps an entry that is already there.
	first := fakeAEAD{1}
	c.add([]byte("e"), first)
	if got := c.add([]byte("e"), fakeAEAD{2}); got != tink.AEAD(first) {
		t.Errorf("add replaced a cached entry")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := newScopeCache(200)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := []byte(fmt.Sprintf("%d", (g*31+i)%500))
				if c.get(k) == nil {
					c.add(k, fakeAEAD{i})
				}
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > 200 {
		t.Fatalf("cache holds %d entries, bound 200", n)
	}
}

func TestEnvelopeCacheBound(t *testing.T) {
	h, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEnvelope(h, WithCacheSize(100))
	if err != nil {
		t.Fatal(err)
	}
	var cts [][]byte
	for i := range 1000 {
		ad := []byte("ns\x00session-" + strconv.Itoa(i) + "\x00name")
		ct, err := e.Encrypt([]byte("v"), ad)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
		if n := e.cache.len(); n > 100 {
			t.Fatalf("cache holds %d entries, bound 100", n)
		}
	}
	// Every value still opens, its key derived again when evicted.
	for i, ct := range cts {
		ad := []byte("ns\x00session-" + strconv.Itoa(i) + "\x00name")
		if _, err := e.Decrypt(ct, ad); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.cache.len(); n > 100 {
		t.Fatalf("cache holds %d entries, bound 100", n)
	}

	// Values that do not open are not cached, nor are very long scopes.
	e, err = NewEnvelope(h, WithCacheSize(100))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		ad := []byte("ns\x00session-" + strconv.Itoa(i) + "\x00name")
		if _, err := e.Decrypt(cts[i], append(ad, 'x')); err == nil {
			t.Fatal("tampered associated data accepted")
		}
	}
	long := bytes.Repeat([]byte{'a'}, maxCachedScope+1)
	if _, err := e.Encrypt([]byte("v"), long); err != nil {
		t.Fatal(err)
	}
	if n := e.cache.len(); n != 0 {
		t.Fatalf("cache holds %d entries after failed opens and a long scope, want 0", n)
	}
}
