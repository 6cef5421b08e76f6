package attrcache

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// write.lua's modes and expiration markers, boxed once: converting a
// value to an interface on every call would allocate.
var (
	modeCreate any = "c"
	modeSet    any = "s"
	modeUpdate any = "u"
	modeExpire any = "x"
	modeDelete any = "d"
	expKeep    any = int64(-1) // expiration not given
	expNone    any = int64(0)  // lives as long as the session
)

// Create adds an attribute. It returns ErrExists (a *NamesError) when a
// live attribute has the name; an expired one is replaced. Without
// WithExpiration the attribute lives as long as the session; with it, it
// expires d from now or with the session, whichever comes first.
func (s *Session) Create(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	c := call{op: opCreate, name: name}
	ctx = s.begin(ctx, &c)
	err := s.write(ctx, &c, modeCreate, []Attr{{Name: name, Value: value}}, opts)
	return s.finish(ctx, &c, err)
}

// CreateMany adds several attributes at once, all or nothing: if any name
// is held by a live attribute nothing is written and the *NamesError
// (ErrExists) names every conflict. defaults apply to every Attr; an
// Attr's own Options override them.
func (s *Session) CreateMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	c := call{op: opCreateMany, attrs: attrs}
	ctx = s.begin(ctx, &c)
	err := s.write(ctx, &c, modeCreate, attrs, defaults)
	return s.finish(ctx, &c, err)
}

// Set creates the attribute or replaces its value; a replaced attribute
// keeps its Created time. Without WithExpiration a replaced attribute
// keeps its expiry; WithoutExpiration removes it.
func (s *Session) Set(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	c := call{op: opSet, name: name}
	ctx = s.begin(ctx, &c)
	err := s.write(ctx, &c, modeSet, []Attr{{Name: name, Value: value}}, opts)
	return s.finish(ctx, &c, err)
}

// SetMany is Set for several attributes in one atomic call.
func (s *Session) SetMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	c := call{op: opSetMany, attrs: attrs}
	ctx = s.begin(ctx, &c)
	err := s.write(ctx, &c, modeSet, attrs, defaults)
	return s.finish(ctx, &c, err)
}

// Update replaces the value of an existing attribute, keeping its Created
// time and, without WithExpiration, its expiry. It returns ErrNotFound (a
// *NamesError) when the attribute is absent or expired.
func (s *Session) Update(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	c := call{op: opUpdate, name: name}
	ctx = s.begin(ctx, &c)
	err := s.write(ctx, &c, modeUpdate, []Attr{{Name: name, Value: value}}, opts)
	return s.finish(ctx, &c, err)
}

// UpdateMany is Update for several attributes, all or nothing: if any is
// absent or expired nothing is written and the *NamesError (ErrNotFound)
// names every missing one.
func (s *Session) UpdateMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	c := call{op: opUpdateMany, attrs: attrs}
	ctx = s.begin(ctx, &c)
	err := s.write(ctx, &c, modeUpdate, attrs, defaults)
	return s.finish(ctx, &c, err)
}

// write validates and encodes a batch, seals what must be sealed, and runs
// write.lua once. Nothing reaches Redis unless every item is valid.
func (s *Session) write(ctx context.Context, c *call, mode any, attrs []Attr, defaults []WriteOption) error {
	st := s.store
	if s.bad != nil {
		return s.bad
	}
	if err := st.checkBatch(len(attrs)); err != nil {
		return err
	}
	if err := checkDuplicates(attrs, func(a Attr) string { return a.Name }); err != nil {
		return err
	}
	def := applyWrite(writeSpec{}, defaults)
	args := make([]any, 6, 6+4*len(attrs)) // the first six are runWrite's
	callBytes := 0
	var ad []byte // reused: ciphers do not keep the associated data
	for i := range attrs {
		a := &attrs[i]
		if err := st.checkName(a.Name); err != nil {
			return err
		}
		if len(a.Value) > st.limits.MaxValueBytes {
			return invalidf(fmt.Sprintf("value of %q is %d bytes, over MaxValueBytes %d", a.Name, len(a.Value), st.limits.MaxValueBytes))
		}
		spec := def
		if len(a.Options) > 0 {
			spec = applyWrite(def, a.Options)
		}
		if spec.badDuration {
			return invalidf(fmt.Sprintf("expiration of %q must be between 1ms and MaxExpiration", a.Name))
		}
		exp := expKeep
		if spec.noExpire {
			exp = expNone
		} else if spec.expire > 0 {
			exp = spec.expire.Milliseconds()
		}
		flags, value := 0, a.Value
		if spec.encrypt {
			if st.cipher == nil {
				return ErrNoCipher
			}
			ad = s.appendAD(ad[:0], a.Name)
			ct, err := st.cipher.Encrypt(value, ad)
			if err != nil {
				// A cipher may call out (a KMS): its failure is a fault,
				// not the caller's input, and it has no plaintext to leak.
				return unavailable(&sealError{name: a.Name, cause: err})
			}
			flags, value = flagEncrypted, ct
		}
		callBytes += len(a.Name) + len(value)
		args = append(args, a.Name, flags, exp, value)
	}
	if callBytes > st.limits.MaxCallBytes {
		return invalidf(fmt.Sprintf("call of %d bytes is over MaxCallBytes %d", callBytes, st.limits.MaxCallBytes))
	}
	return s.runWrite(ctx, c, mode, args)
}

// runWrite runs write.lua. args[6:] are the items; runWrite fills the
// six leading arguments.
func (s *Session) runWrite(ctx context.Context, c *call, mode any, args []any) error {
	st := s.store
	args[4], args[5] = st.maxAttrs, st.maxBytes
	rep, err := s.runScript(ctx, c, writeScript, mode, args)
	if err != nil {
		return err
	}
	return rep.err()
}

// Delete removes the attribute; deleting an absent name is not an error.
// It also clears a corrupt record.
func (s *Session) Delete(ctx context.Context, name string) error {
	c := call{op: opDelete, name: name}
	ctx = s.begin(ctx, &c)
	err := s.delete(ctx, &c, []string{name})
	return s.finish(ctx, &c, err)
}

// DeleteMany removes the named attributes at once; absent names are not
// an error.
func (s *Session) DeleteMany(ctx context.Context, names []string) error {
	c := call{op: opDeleteMany, names: names}
	ctx = s.begin(ctx, &c)
	err := s.delete(ctx, &c, names)
	return s.finish(ctx, &c, err)
}

func (s *Session) delete(ctx context.Context, c *call, names []string) error {
	args, err := s.nameArgs(names)
	if err != nil {
		return err
	}
	return s.runWrite(ctx, c, modeDelete, args)
}

// SetExpiry makes an existing attribute expire d from now (clamped to the
// session's lifetime), keeping its value and times. It returns ErrNotFound
// (a *NamesError) when the attribute is absent or expired.
func (s *Session) SetExpiry(ctx context.Context, name string, d time.Duration) error {
	c := call{op: opSetExpiry, name: name}
	ctx = s.begin(ctx, &c)
	err := s.setExpiry(ctx, &c, []string{name}, []time.Duration{d})
	return s.finish(ctx, &c, err)
}

// SetExpiryMany is SetExpiry for several attributes, all or nothing: if
// any is absent or expired nothing changes and the *NamesError names every
// missing one.
func (s *Session) SetExpiryMany(ctx context.Context, expiries map[string]time.Duration) error {
	names := make([]string, 0, len(expiries))
	for name := range expiries {
		names = append(names, name)
	}
	slices.Sort(names) // errors name attributes in a stable order
	ds := make([]time.Duration, len(names))
	for i, name := range names {
		ds[i] = expiries[name]
	}
	c := call{op: opSetExpiryMany, names: names}
	ctx = s.begin(ctx, &c)
	err := s.setExpiry(ctx, &c, names, ds)
	return s.finish(ctx, &c, err)
}

func (s *Session) setExpiry(ctx context.Context, c *call, names []string, ds []time.Duration) error {
	if err := s.checkNames(names); err != nil {
		return err
	}
	args := make([]any, 6, 6+2*len(names))
	for i, name := range names {
		if !validDuration(ds[i]) {
			return invalidf(fmt.Sprintf("expiration of %q must be between 1ms and MaxExpiration", name))
		}
		args = append(args, name, ds[i].Milliseconds())
	}
	return s.runWrite(ctx, c, modeExpire, args)
}

// nameArgs validates a batch of names and returns them as write.lua's
// arguments (after the six runWrite fills).
func (s *Session) nameArgs(names []string) ([]any, error) {
	if err := s.checkNames(names); err != nil {
		return nil, err
	}
	args := make([]any, 6, 6+len(names))
	for _, name := range names {
		args = append(args, name)
	}
	return args, nil
}

// checkNames validates a batch of names for a call on the session: a
// usable id, a batch size within MaxBatch, valid names, none twice.
func (s *Session) checkNames(names []string) error {
	if s.bad != nil {
		return s.bad
	}
	st := s.store
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

func (st *Store) checkBatch(n int) error {
	switch {
	case n == 0:
		return invalidf("no attributes given")
	case n > st.limits.MaxBatch:
		return invalidf("batch of " + strconv.Itoa(n) + " attributes is over MaxBatch " + strconv.Itoa(st.limits.MaxBatch))
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
func (st *Store) checkName(name string) error {
	switch {
	case name == "":
		return invalidf("attribute name is empty")
	case len(name) > st.limits.MaxNameBytes:
		return invalidf(fmt.Sprintf("attribute name of %d bytes is over MaxNameBytes %d", len(name), st.limits.MaxNameBytes))
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
