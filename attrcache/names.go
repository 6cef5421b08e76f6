package attrcache

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// checkNames validates a batch of names for a call: a usable id, a batch
// size within MaxBatch, valid names, none twice.
func (o *owner) checkNames(names []string) error {
	if o.bad != nil {
		return o.bad
	}
	st := o.store
	if err := st.checkBatch(len(names)); err != nil {
		return err
	}
	for _, name := range names {
		if err := st.checkName(name); err != nil {
			return err
		}
	}
	return checkDuplicates(names, func(n string) string { return n })
}

// checkName is checkNames for one name.
func (o *owner) checkName(name string) error {
	if o.bad != nil {
		return o.bad
	}
	return o.store.checkName(name)
}

func (s *Store) checkBatch(n int) error {
	switch {
	case n == 0:
		return invalidf("no attributes given")
	case n > s.limits.MaxBatch:
		return invalidf("batch of " + strconv.Itoa(n) + " attributes is over MaxBatch " + strconv.Itoa(s.limits.MaxBatch))
	}
	return nil
}

// checkName enforces the name rules. Names reach log lines and operators'
// screens, so a name is 1 to MaxNameBytes of valid UTF-8 made of letters,
// marks, numbers, punctuation, symbols and spaces (Unicode categories L,
// M, N, P, S and Zs) only: no control or format characters (which
// includes bidirectional overrides such as U+202E, zero-width joiners and
// the byte-order mark), no line or paragraph separators, no private-use
// or unassigned code points. Names are compared byte for byte and not
// normalised: "é" written precomposed (NFC) and decomposed (NFD) are two
// names, as they are two Redis fields.
func (s *Store) checkName(name string) error {
	switch {
	case name == "":
		return invalidf("attribute name is empty")
	case len(name) > s.limits.MaxNameBytes:
		return invalidf(fmt.Sprintf("attribute name of %d bytes is over MaxNameBytes %d", len(name), s.limits.MaxNameBytes))
	}
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return invalidf(fmt.Sprintf("attribute name %q contains a control character", name))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && n == 1 {
			return invalidf("attribute name is not valid UTF-8")
		}
		if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) {
			return invalidf(fmt.Sprintf("attribute name %q contains %U, which names may not hold (control, format, separator, private-use or unassigned)", name, r))
		}
		i += n
	}
	return nil
}

// checkDuplicates refuses a batch that names an attribute twice. Small
// batches are compared pairwise, which is cheaper than building a map.
func checkDuplicates[T any](items []T, name func(T) string) error {
	dup := func(n string) error {
		return invalidf(fmt.Sprintf("attribute %q is named twice in one call", n))
	}
	if len(items) <= 16 {
		for i := 1; i < len(items); i++ {
			for j := range i {
				if n := name(items[i]); n == name(items[j]) {
					return dup(n)
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(items))
	for _, it := range items {
		n := name(it)
		if _, ok := seen[n]; ok {
			return dup(n)
		}
		seen[n] = struct{}{}
	}
	return nil
}
