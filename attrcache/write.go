package attrcache

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// write.lua's modes.
const (
	modeCreate  = 'c'
	modeSet     = 's'
	modeUpdate  = 'u'
	modeIncr    = 'i'
	modeExpire  = 'x'
	modeDelete  = 'd'
	modeReplace = 'r'
)

// keepExpiry is the expiry argument that keeps the current one.
const keepExpiry = 1<<48 - 1

// Create adds an attribute. It returns ErrExists (a *NamesError) when a
// live attribute has the name; an expired one is replaced. Without
// WithExpiration the attribute lives as long as its session (or user);
// with it, it expires d from now, or with the session, whichever comes
// first.
func (o *owner) Create(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	c := call{op: opCreate, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	_, err := o.write(ctx, &c, modeCreate, []Attr{{Name: name, Value: value}}, opts)
	return o.finish(ctx, &c, err)
}

// CreateMany adds several attributes at once, all or nothing: if any name
// is held by a live attribute nothing is written and the *NamesError
// (ErrExists) names every conflict. defaults apply to every Attr; an
// Attr's own Options override them.
func (o *owner) CreateMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	c := call{op: opCreateMany, attrs: attrs}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	_, err := o.write(ctx, &c, modeCreate, attrs, defaults)
	return o.finish(ctx, &c, err)
}

// Set creates the attribute or replaces its value; a replaced attribute
// keeps its Created time. Without WithExpiration a replaced attribute
// keeps its expiry; WithoutExpiration removes it.
func (o *owner) Set(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	c := call{op: opSet, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	_, err := o.write(ctx, &c, modeSet, []Attr{{Name: name, Value: value}}, opts)
	return o.finish(ctx, &c, err)
}

// SetMany is Set for several attributes in one atomic call.
func (o *owner) SetMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	c := call{op: opSetMany, attrs: attrs}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	_, err := o.write(ctx, &c, modeSet, attrs, defaults)
	return o.finish(ctx, &c, err)
}

// Update replaces the value of an existing attribute, keeping its Created
// time and, without WithExpiration, its expiry. It returns ErrNotFound (a
// *NamesError) when the attribute is absent or expired.
func (o *owner) Update(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	c := call{op: opUpdate, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	_, err := o.write(ctx, &c, modeUpdate, []Attr{{Name: name, Value: value}}, opts)
	return o.finish(ctx, &c, err)
}

// UpdateMany is Update for several attributes, all or nothing: if any is
// absent or expired nothing is written and the *NamesError (ErrNotFound)
// names every missing one.
func (o *owner) UpdateMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	c := call{op: opUpdateMany, attrs: attrs}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	_, err := o.write(ctx, &c, modeUpdate, attrs, defaults)
	return o.finish(ctx, &c, err)
}

// Incr adds delta to the counter in the attribute and returns the new
// value, atomically, as Redis's HINCRBY does: an absent or expired
// attribute starts at 0. The value is stored as decimal text, so Get
// reads it. A value that is no integer, a sealed one, or a result beyond
// ±(2^53 - 1) is ErrInvalid (a *NamesError) and stays as it was; so is
// an Incr of a name WithSealed names. WithExpiration works as for Set;
// WithEncryption is ErrInvalid.
//
// A resent Incr (the client resent it after a lost reply) does not add
// twice: it returns the counter's current value, which includes its own
// increment and any that came after it.
func (o *owner) Incr(ctx context.Context, name string, delta int64, opts ...WriteOption) (int64, error) {
	c := call{op: opIncr, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	var n int64
	err := o.checkName(name)
	switch spec := applyWrite(writeSpec{}, opts); {
	case err != nil:
	case spec.encrypt || o.sealedName(name):
		err = &NamesError{Err: ErrInvalid, Names: []string{name}, why: "a counter cannot be sealed"}
	default:
		var rep backend.Reply
		rep, err = o.write(ctx, &c, modeIncr, []Attr{{Name: name, Value: strconv.AppendInt(nil, delta, 10), Options: opts}}, nil)
		if err == nil {
			n, err = o.counter(ctx, name, rep)
		}
	}
	return n, o.finish(ctx, &c, err)
}

// counter reads Incr's result: the script's, or for a resent Incr the
// counter's current value.
func (o *owner) counter(ctx context.Context, name string, rep backend.Reply) (int64, error) {
	if v, ok := rep.Int(2); ok && rep.Code == format.StatusOK {
		return v, nil
	}
	e, err := o.get(ctx, name, nil)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(string(e.Value), 10, 64)
	if perr != nil {
		return 0, &NamesError{Err: ErrInvalid, Names: []string{name}, why: "the value is no integer"}
	}
	return n, nil
}

// item is one attribute of a write, validated and ready to seal.
type item struct {
	name    string
	sealed  bool
	expires int64 // absolute ms (sealed) or ms from now (plain); 0 none; keepExpiry
	value   []byte
}

// write validates and encodes a batch, seals what must be sealed, and
// runs write.lua once (twice when sealed values keep an expiry they did
// not know: see RESEAL in write.lua). Nothing reaches Redis unless every
// item is valid.
func (o *owner) write(ctx context.Context, c *call, mode byte, attrs []Attr, defaults []WriteOption) (backend.Reply, error) {
	st := o.store
	if o.bad != nil {
		return backend.Reply{}, o.bad
	}
	if err := st.checkBatch(len(attrs)); err != nil {
		return backend.Reply{}, err
	}
	if err := checkDuplicates(attrs, func(a Attr) string { return a.Name }); err != nil {
		return backend.Reply{}, err
	}
	items, err := o.items(attrs, defaults, mode == modeCreate)
	if err != nil {
		return backend.Reply{}, err
	}
	if err := o.stamp(ctx, items); err != nil {
		return backend.Reply{}, err
	}
	for try := 0; ; try++ {
		args, err := o.writeArgs(items, mode)
		if err != nil {
			return backend.Reply{}, err
		}
		rep, err := o.runWrite(ctx, c, mode, args)
		if err != nil || rep.Code != format.StatusReseal || try == 2 {
			if err == nil {
				err = o.statusError(rep)
			}
			return rep, err
		}
		// Sealed values that keep an expiry: seal them again with it.
		for i := 0; i+1 < len(rep.Vals); i += 2 {
			name, exp := rep.Vals[i].S, rep.Vals[i+1].N
			for j := range items {
				if items[j].name == name {
					items[j].expires = exp
				}
			}
		}
	}
}

// items validates a batch's attributes against the rules and limits and
// resolves their options: whether each is sealed, and its expiry from
// now. It does no I/O.
func (o *owner) items(attrs []Attr, defaults []WriteOption, create bool) ([]item, error) {
	st := o.store
	def := applyWrite(writeSpec{}, defaults)
	items := make([]item, len(attrs))
	callBytes := 0
	for i := range attrs {
		a := &attrs[i]
		if err := st.checkName(a.Name); err != nil {
			return nil, err
		}
		if len(a.Value) > st.limits.MaxValueBytes {
			return nil, invalidf(fmt.Sprintf("value of %q is %d bytes, over MaxValueBytes %d", a.Name, len(a.Value), st.limits.MaxValueBytes))
		}
		spec := def
		if len(a.Options) > 0 {
			spec = applyWrite(def, a.Options)
		}
		if spec.badDuration {
			return nil, invalidf(fmt.Sprintf("expiration of %q must be between 1ms and MaxExpiration", a.Name))
		}
		it := item{name: a.Name, value: a.Value, expires: keepExpiry}
		switch {
		case spec.noExpire:
			it.expires = 0
		case spec.expire > 0:
			it.expires = spec.expire.Milliseconds()
		case create:
			it.expires = 0
		}
		it.sealed = spec.encrypt || o.sealedName(a.Name)
		if it.sealed {
			if st.cipher == nil {
				return nil, &NamesError{Err: ErrNoCipher, Names: []string{a.Name}}
			}
			callBytes += st.sealOverhead()
		}
		callBytes += len(a.Name) + len(a.Value)
		items[i] = it
	}
	if callBytes > st.limits.MaxCallBytes {
		return nil, invalidf(fmt.Sprintf("call of %d bytes is over MaxCallBytes %d", callBytes, st.limits.MaxCallBytes))
	}
	return items, nil
}

// stamp makes the expiries of sealed items absolute: a sealed value's
// associated data binds its expiry, so Go stamps it, on the estimate of
// Redis's clock; a plain one is stamped by the script, exactly.
func (o *owner) stamp(ctx context.Context, items []item) error {
	var now int64
	for i := range items {
		it := &items[i]
		if !it.sealed || it.expires == 0 || it.expires == keepExpiry {
			continue
		}
		if now == 0 {
			var err error
			if now, _, err = o.store.estimate(ctx, o.keys[0]); err != nil {
				return err
			}
		}
		it.expires += now
	}
	return nil
}

// sealOverhead is what sealing adds to a value, for MaxCallBytes: Tink's
// AES-GCM, which package keys uses, adds 33 bytes.
func (s *Store) sealOverhead() int { return 33 }

// writeArgs encodes items as write.lua's arguments, sealing the sealed
// ones: name, meta (flags and expiry), value. args[0] is left for the
// call's argument (see Store.run).
func (o *owner) writeArgs(items []item, mode byte) ([]any, error) {
	args := make([]any, 1, 1+3*len(items))
	var ad []byte // reused: ciphers do not keep the associated data
	for _, it := range items {
		meta := make([]byte, 7)
		put48(meta[1:], it.expires)
		value := it.value
		if !it.sealed && it.expires != 0 && it.expires != keepExpiry {
			meta[0] = 1 // relative
		}
		if it.sealed {
			meta[0] = 1 << 6
			exp := it.expires
			if exp == keepExpiry {
				exp = 0 // a current expiry comes back as RESEAL
			}
			ad = o.ad(ad[:0], it.name, true, exp)
			ct, err := o.store.cipher.Encrypt(value, ad)
			if err != nil {
				// A cipher may call out (a KMS): its failure is a fault,
				// not the caller's input, and it has no plaintext to leak.
				return nil, unavailable(&sealError{name: it.name, cause: err})
			}
			value = ct
		}
		args = append(args, it.name, meta, value)
	}
	if mode == modeIncr {
		args[3] = string(items[0].value) // the delta, in decimal
	}
	return args, nil
}

// runWrite runs write.lua with args (args[0] is the call's).
func (o *owner) runWrite(ctx context.Context, c *call, mode byte, args []any) (backend.Reply, error) {
	st := o.store
	var head [10]byte
	head[0], head[1] = mode, o.ownerByte()
	putU32(head[2:6], uint32(st.limits.MaxAttributes))
	putU32(head[6:10], uint32(st.limits.MaxSessionBytes))
	rep, err := st.run(ctx, c, writeScript, o.keys[:], head[:], args)
	if err == nil && format.Applied(rep.Code) && !o.isUser() {
		if dl, ok := rep.Int(0); ok && dl > 0 {
			o.seen.Store(dl)
		}
	}
	return rep, err
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// Delete removes the attribute; deleting an absent name is not an error.
// It also clears a corrupt record.
func (o *owner) Delete(ctx context.Context, name string) error {
	c := call{op: opDelete, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	err := o.delete(ctx, &c, []string{name})
	return o.finish(ctx, &c, err)
}

// DeleteMany removes the named attributes at once; absent names are not
// an error.
func (o *owner) DeleteMany(ctx context.Context, names []string) error {
	c := call{op: opDeleteMany, names: names}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	err := o.delete(ctx, &c, names)
	return o.finish(ctx, &c, err)
}

func (o *owner) delete(ctx context.Context, c *call, names []string) error {
	if err := o.checkNames(names); err != nil {
		return err
	}
	args := make([]any, 1, 1+len(names))
	for _, name := range names {
		args = append(args, name)
	}
	rep, err := o.runWrite(ctx, c, modeDelete, args)
	if err != nil {
		return err
	}
	return o.statusError(rep)
}

// SetExpiry makes an existing attribute expire d from now: its own expiry
// (see WithExpiration), keeping its value and times. It returns
// ErrNotFound (a *NamesError) when the attribute is absent or expired.
// The expiry of a sealed value is bound into its ciphertext, so for one
// SetExpiry reads the value, seals it again and writes it back if no
// other write came between: two round trips.
func (o *owner) SetExpiry(ctx context.Context, name string, d time.Duration) error {
	c := call{op: opSetExpiry, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	err := o.setExpiry(ctx, &c, []string{name}, []time.Duration{d})
	return o.finish(ctx, &c, err)
}

// SetExpiryMany is SetExpiry for several attributes, all or nothing: if
// any is absent or expired nothing changes and the *NamesError names
// every missing one.
func (o *owner) SetExpiryMany(ctx context.Context, expiries map[string]time.Duration) error {
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
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	err := o.setExpiry(ctx, &c, names, ds)
	return o.finish(ctx, &c, err)
}

func (o *owner) setExpiry(ctx context.Context, c *call, names []string, ds []time.Duration) error {
	if err := o.checkNames(names); err != nil {
		return err
	}
	for i, name := range names {
		if !validDuration(ds[i]) {
			return invalidf(fmt.Sprintf("expiration of %q must be between 1ms and MaxExpiration", name))
		}
	}
	for try := 0; ; try++ {
		args := make([]any, 1, 1+2*len(names))
		for i, name := range names {
			exp := make([]byte, 6)
			put48(exp, ds[i].Milliseconds())
			args = append(args, name, exp)
		}
		rep, err := o.runWrite(ctx, c, modeExpire, args)
		if err != nil {
			return err
		}
		if rep.Code != format.StatusReseal {
			return o.statusError(rep)
		}
		// Sealed records: replace them whole, sealed again.
		err = o.reseal(ctx, c, names, ds)
		if err != errChanged || try == 2 {
			return err
		}
	}
}

// errChanged is a replace that found other records than it read: another
// write came between; setExpiry starts over.
var errChanged = fmt.Errorf("%w: the attributes changed while their expiry was being set", ErrUnavailable)

// reseal sets the expiries of names by reading their records and writing
// them back whole, sealed ones sealed again for their new expiry, if no
// other write came between.
func (o *owner) reseal(ctx context.Context, c *call, names []string, ds []time.Duration) error {
	st := o.store
	fields := append([]string{format.MarkerField}, names...)
	vals, v, err := o.hmget(ctx, fields)
	if err != nil {
		return err
	}
	now, _, err := st.estimate(ctx, o.keys[0])
	if err != nil {
		return err
	}
	args := make([]any, 1, 1+3*len(names))
	var missing []string
	var oldAD, newAD []byte
	for i, name := range names {
		raw := vals[i+1]
		rec, found, err := v.record(name, raw)
		if err != nil {
			return err
		}
		if !found {
			missing = append(missing, name)
			continue
		}
		value := []byte(rec.Value)
		exp := now + ds[i].Milliseconds()
		if rec.Sealed {
			if st.cipher == nil {
				return &NamesError{Err: ErrNoCipher, Names: []string{name}}
			}
			oldAD = o.ad(oldAD[:0], name, true, rec.Expires)
			pt, err := st.cipher.Decrypt(value, oldAD)
			if err != nil {
				return &NamesError{Err: ErrDecrypt, Names: []string{name}, cause: err}
			}
			newAD = o.ad(newAD[:0], name, true, exp)
			if value, err = st.cipher.Encrypt(pt, newAD); err != nil {
				return unavailable(&sealError{name: name, cause: err})
			}
		}
		rec.Expires = exp
		args = append(args, name, raw.S, string(format.AppendRecord(nil, rec, v.m.Created, value)))
	}
	if missing != nil {
		return &NamesError{Err: ErrNotFound, Names: missing}
	}
	rep, err := o.runWrite(ctx, c, modeReplace, args)
	if err != nil {
		return err
	}
	if rep.Code == format.StatusChanged {
		return errChanged
	}
	return o.statusError(rep)
}

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
