package attrcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

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
	c := call{op: opCreate, name: name, one: new(oneWrite)}
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
	c := call{op: opSet, name: name, one: new(oneWrite)}
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
	c := call{op: opUpdate, name: name, one: new(oneWrite)}
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
	c := call{op: opIncr, name: name, one: new(oneWrite)}
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
// not know: see RESEAL in write.lua, and keptExpiries). Nothing reaches
// Redis unless every item is valid.
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
	var one [1]item // a one-attribute write's, kept off the heap
	items, err := o.items(one[:0], attrs, defaults, mode == modeCreate)
	if err != nil {
		return backend.Reply{}, err
	}
	if err := o.stamp(ctx, items); err != nil {
		return backend.Reply{}, err
	}
	if err := o.keptExpiries(ctx, mode, items); err != nil {
		return backend.Reply{}, err
	}
	for try := 0; ; try++ {
		args, err := o.writeArgs(c, items, mode)
		if err != nil {
			return backend.Reply{}, err
		}
		var meta []byte
		if mode == modeCreate || mode == modeSet || mode == modeUpdate || mode == modeIncr {
			args, meta = shareMeta(args)
		}
		rep, err := o.runWrite(ctx, c, mode, args, meta)
		if err != nil || rep.Code != format.StatusReseal || try == 2 {
			if err == nil {
				err = o.statusError(rep)
			}
			return rep, err
		}
		// Sealed values that keep an expiry: seal them again with it.
		index := make(map[string]int, len(items))
		for j := range items {
			index[items[j].name] = j
		}
		for i := 0; i+1 < rep.Len(); i += 2 {
			if j, ok := index[rep.Val(i).S]; ok {
				items[j].expires = rep.Val(i + 1).N
			}
		}
	}
}

// keptBatch is how many sealed values that keep their record's expiry
// make a Set or Update read those expiries before it writes.
const keptBatch = 64

// keptExpiries gives the sealed items of a Set or Update that keep their
// record's expiry (no WithExpiration) that expiry, read with one HMGET,
// when there are at least keptBatch of them. A sealed value's associated
// data binds its expiry, so without it the script answers RESEAL and the
// whole batch goes twice: for a full session of sealed values the HMGET
// costs Redis a tenth of the script it saves. Smaller batches keep one
// round trip and risk the RESEAL. A record that changed in between is
// caught by the script as before.
func (o *owner) keptExpiries(ctx context.Context, mode byte, items []item) error {
	if mode != modeSet && mode != modeUpdate {
		return nil
	}
	var kept []int
	for j := range items {
		if items[j].sealed && items[j].expires == keepExpiry {
			kept = append(kept, j)
		}
	}
	if len(kept) < keptBatch {
		return nil
	}
	names := make([]string, len(kept))
	for k, j := range kept {
		names[k] = items[j].name
	}
	vals, v, err := o.readChecked(ctx, names)
	if err != nil {
		return err
	}
	for k, j := range kept {
		rec, found, err := v.record(names[k], vals[k+1])
		if err == nil && found && rec.Expires != 0 {
			items[j].expires = rec.Expires
		}
	}
	return nil
}

// items validates a batch's attributes against the rules and limits and
// resolves their options: whether each is sealed, and its expiry from
// now. It does no I/O. The items go in dst's backing array when it has
// room.
func (o *owner) items(dst []item, attrs []Attr, defaults []WriteOption, create bool) ([]item, error) {
	st := o.store
	var def writeSpec
	if len(defaults) > 0 { // applying options costs an allocation
		def = applyWrite(def, defaults)
	}
	items := slices.Grow(dst[:0], len(attrs))[:len(attrs)]
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
// call's argument (see Store.run). A one-attribute write's arguments live
// in its oneWrite.
func (o *owner) writeArgs(c *call, items []item, mode byte) ([]any, error) {
	var (
		args []any
		bufs []itemArgs
		name *backend.Text // a one-attribute write's name, boxed for free
	)
	if len(items) == 1 {
		w := c.oneArgs()
		args, bufs, name = w.args[:1], w.item[:], &w.name
	} else {
		args, bufs = make([]any, 1, 1+3*len(items)), make([]itemArgs, len(items))
	}
	var ad []byte // reused: ciphers do not keep the associated data
	for i, it := range items {
		b := &bufs[i]
		put48(b.meta[1:], it.expires)
		value := it.value
		if !it.sealed && it.expires != 0 && it.expires != keepExpiry {
			b.meta[0] = 1 // relative
		}
		if it.sealed {
			b.meta[0] = 1 << 6
			exp := it.expires
			if exp == keepExpiry {
				exp = 0 // a current expiry comes back as RESEAL
			}
			ad = o.ad(ad[:0], it.name, exp)
			ct, err := o.store.cipher.Encrypt(value, ad)
			if err != nil {
				// A cipher may call out (a KMS): its failure is a fault,
				// not the caller's input, and it has no plaintext to leak.
				return nil, unavailable(&sealError{name: it.name, cause: err})
			}
			value = ct
		}
		b.metaArg.b, b.value.b = b.meta[:], value
		if name != nil {
			name.S = it.name
			args = append(args, name, &b.metaArg, &b.value)
		} else {
			args = append(args, it.name, &b.metaArg, &b.value)
		}
	}
	if mode == modeIncr {
		args[3] = string(items[0].value) // the delta, in decimal
	}
	return args, nil
}

// shareMeta rewrites the arguments of a create, set, update or incr
// (name, meta, value per attribute, after the call's) in place, when
// every attribute has the same meta (one attribute, or a batch of one
// expiry, all sealed or none: a CreateMany with defaults), as name,
// value per attribute, and returns the meta, which the call's argument
// then carries (see write.lua). Redis then makes one string fewer per
// attribute, and the script decodes the meta once. It returns args as
// they are and nil when the metas differ.
func shareMeta(args []any) ([]any, []byte) {
	n := (len(args) - 1) / 3
	meta := args[2].(*bytesArg).b
	for i := 1; i < n; i++ {
		if !bytes.Equal(args[2+3*i].(*bytesArg).b, meta) {
			return args, nil
		}
	}
	for i := range n {
		// Each pair goes where its triple begins or before it.
		args[1+2*i], args[2+2*i] = args[1+3*i], args[3+3*i]
	}
	return args[:1+2*n], meta
}

// itemArgs holds one attribute's meta and the arguments that carry its
// meta and value. Both go as pointers: boxing a pointer in an interface
// costs no allocation, boxing a []byte one each.
type itemArgs struct {
	meta           [7]byte
	metaArg, value bytesArg
}

// oneWrite is what a one-attribute write needs on the heap, in one
// allocation: its arguments (the name, the meta and the value each boxed
// as a pointer into it), the context that bounds the call (see
// backend.Room) and its first script's exactly-once argument. A call that
// sends a second script (a CLOCK or RESEAL retry) allocates afresh for
// it.
type oneWrite struct {
	args      [4]any
	item      [1]itemArgs
	name      backend.Text
	room      backend.Room
	ca        callArg
	argsTaken bool
	caTaken   bool
}

// bytesArg is a script argument of bytes, which go-redis and rueidisstore
// send through MarshalBinary. Printed, it shows its length only: it may
// hold a value.
type bytesArg struct{ b []byte }

func (a *bytesArg) MarshalBinary() ([]byte, error) { return a.b, nil }
func (a *bytesArg) String() string                 { return fmt.Sprintf("[%d bytes]", len(a.b)) }

// recordArg is a stored record sent back as a script argument (a replace
// that checks it, a rotation that moves it): like bytesArg, it prints its
// length, never the value it holds.
type recordArg struct{ s string }

func (a *recordArg) MarshalBinary() ([]byte, error) { return []byte(a.s), nil }
func (a *recordArg) String() string                 { return fmt.Sprintf("[%d bytes]", len(a.s)) }

// runWrite runs write.lua with args (args[0] is the call's), and meta,
// when not nil, at the end of the call's argument: the meta every
// attribute shares (see shareMeta).
func (o *owner) runWrite(ctx context.Context, c *call, mode byte, args []any, meta []byte) (backend.Reply, error) {
	st := o.store
	var head [10 + 7]byte
	head[0], head[1] = mode, o.ownerByte()
	binary.BigEndian.PutUint32(head[2:6], uint32(st.limits.MaxAttributes))
	binary.BigEndian.PutUint32(head[6:10], uint32(st.limits.MaxSessionBytes))
	n := 10 + copy(head[10:], meta)
	rep, err := st.run(ctx, c, writeScript, o.hashKeys(), head[:n], args)
	if err == nil && format.Applied(rep.Code) && !o.isUser() {
		if dl, ok := rep.Int(0); ok && dl > 0 {
			o.seen.Store(dl)
		}
	}
	return rep, err
}

// Delete removes the attribute; deleting an absent name is not an error.
// It also clears a corrupt record.
func (o *owner) Delete(ctx context.Context, name string) error {
	c := call{op: opDelete, name: name, one: new(oneWrite)}
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
	var args []any
	if len(names) == 1 {
		w := c.oneArgs()
		w.name.S = names[0]
		args = append(w.args[:1], &w.name)
	} else {
		args = make([]any, 1, 1+len(names))
		for _, name := range names {
			args = append(args, name)
		}
	}
	rep, err := o.runWrite(ctx, c, modeDelete, args, nil)
	if err != nil {
		return err
	}
	return o.statusError(rep)
}
