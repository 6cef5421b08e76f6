package attrcache

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// Reads are one plain command each: HMGET of the marker and the names, or
// HGETALL. They cost Redis what the raw command costs, a near cache can
// answer them, and they change nothing: an expired record reads as absent
// and is left for the writes' reclaim.

// view is what a read fetched, judged at one instant.
type view struct {
	m   format.Marker
	now int64 // the latest Redis's clock may read, ms
}

// Get returns the attribute, decrypted unless WithoutDecryption is given.
// It returns ErrNotFound (a *NamesError) when the attribute is absent or
// expired.
func (o *owner) Get(ctx context.Context, name string, opts ...ReadOption) (*Entry, error) {
	c := call{op: opGet, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	e, err := o.get(ctx, name, opts)
	return e, o.finish(ctx, &c, err)
}

func (o *owner) get(ctx context.Context, name string, opts []ReadOption) (*Entry, error) {
	if err := o.checkName(name); err != nil {
		return nil, err
	}
	st := o.store
	now, err := st.upper(ctx, o.keys[0])
	if err != nil {
		return nil, err
	}
	// The Entry is made first: the name goes to the client as a pointer
	// into it, which boxes without an allocation, and the command's
	// argument list lives in it too.
	box := &entryBox{Entry: Entry{Name: name}}
	box.name.S = name
	pair, err := st.be.HMGetPair(ctx, o.hashKeys(), format.MarkerField, &box.name)
	if err != nil {
		return nil, o.readError(err)
	}
	v, err := o.judgeMarker(pair[0], now)
	if err != nil {
		return nil, err
	}
	rec, found, err := v.record(name, pair[1])
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &NamesError{Err: ErrNotFound, Names: []string{name}}
	}
	if err := o.fill(&box.Entry, rec, v, readOptions(opts)); err != nil {
		var bad badRecords
		bad.add(name, err)
		return nil, bad.err()
	}
	return &box.Entry, nil
}

// entryBox is a Get's Entry with its name and the command's arguments.
type entryBox struct {
	Entry
	name backend.PairName
}

// GetMany returns the named attributes; absent and expired ones map to
// nil. Encrypted values are decrypted unless WithoutDecryption is given.
// If any record is corrupt or does not decrypt, the call fails naming
// it, or, WithPartialResults, returns the others with that error.
func (o *owner) GetMany(ctx context.Context, names []string, opts ...ReadOption) (map[string]*Entry, error) {
	c := call{op: opGetMany, names: names}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	m, err := o.getMany(ctx, names, opts)
	return m, o.finish(ctx, &c, err)
}

func (o *owner) getMany(ctx context.Context, names []string, opts []ReadOption) (map[string]*Entry, error) {
	vals, v, err := o.readNames(ctx, names)
	if err != nil {
		return nil, err
	}
	ro := readOptions(opts)
	out := make(map[string]*Entry, len(names))
	var bad badRecords
	for i, name := range names {
		rec, found, err := v.record(name, vals[i+1])
		if err == nil && found {
			var e *Entry
			if e, err = o.entry(name, rec, v, ro); err == nil {
				out[name] = e
				continue
			}
		}
		if err != nil {
			bad.add(name, err)
			continue
		}
		out[name] = nil
	}
	return bad.result(out, ro)
}

// GetAll returns every live attribute, decrypted unless
// WithoutDecryption is given. Like GetMany, it fails on a corrupt or
// undecryptable record unless WithPartialResults is given.
func (o *owner) GetAll(ctx context.Context, opts ...ReadOption) (map[string]*Entry, error) {
	c := call{op: opGetAll}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	m, err := o.getAll(ctx, opts)
	c.count = len(m)
	return m, o.finish(ctx, &c, err)
}

func (o *owner) getAll(ctx context.Context, opts []ReadOption) (map[string]*Entry, error) {
	all, v, err := o.hgetall(ctx)
	if err != nil {
		return nil, err
	}
	ro := readOptions(opts)
	out := make(map[string]*Entry, len(all))
	var bad badRecords
	for name, raw := range all {
		if internalField(name) {
			continue
		}
		rec, found, err := v.record(name, backend.Field{S: raw, OK: true})
		if err == nil && found {
			var e *Entry
			if e, err = o.entry(name, rec, v, ro); err == nil {
				out[name] = e
			}
		}
		if err != nil {
			bad.add(name, err)
		}
	}
	bad.sort()
	return bad.result(out, ro)
}

// Exists reports whether a live attribute has the name.
func (o *owner) Exists(ctx context.Context, name string) (bool, error) {
	c := call{op: opExists, name: name}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	m, err := o.existsMany(ctx, []string{name})
	return m[name], o.finish(ctx, &c, err)
}

// ExistsMany reports, for each name, whether a live attribute has it.
func (o *owner) ExistsMany(ctx context.Context, names []string) (map[string]bool, error) {
	c := call{op: opExistsMany, names: names}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	m, err := o.existsMany(ctx, names)
	return m, o.finish(ctx, &c, err)
}

func (o *owner) existsMany(ctx context.Context, names []string) (map[string]bool, error) {
	vals, v, err := o.readNames(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(names))
	var corrupt []string
	for i, name := range names {
		_, found, err := v.record(name, vals[i+1])
		if err != nil {
			corrupt = append(corrupt, name)
			continue
		}
		out[name] = found
	}
	if corrupt != nil {
		return nil, &NamesError{Err: ErrCorrupt, Names: corrupt}
	}
	return out, nil
}

// Names returns the names of the live attributes, sorted. A corrupt
// record is listed (it is there; reading it fails).
func (o *owner) Names(ctx context.Context) ([]string, error) {
	c := call{op: opNames}
	ctx, cancel := o.begin(ctx, &c)
	defer cancel()
	names, err := o.names(ctx)
	c.count = len(names)
	return names, o.finish(ctx, &c, err)
}

func (o *owner) names(ctx context.Context) ([]string, error) {
	all, v, err := o.hgetall(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(all))
	for name, raw := range all {
		if internalField(name) {
			continue
		}
		if _, found, err := v.record(name, backend.Field{S: raw, OK: true}); found || err != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// readNames reads the marker and the records of names in one HMGET and
// judges the hash: vals[i+1] is names[i]'s. Names are checked first.
func (o *owner) readNames(ctx context.Context, names []string) ([]backend.Field, view, error) {
	if err := o.checkNames(names); err != nil {
		return nil, view{}, err
	}
	return o.readChecked(ctx, names)
}

// readChecked is readNames for names a write has checked already.
func (o *owner) readChecked(ctx context.Context, names []string) ([]backend.Field, view, error) {
	fields := make([]string, 0, 1+len(names))
	return o.hmget(ctx, append(append(fields, format.MarkerField), names...))
}

// hmget reads fields (the marker first) in one HMGET and judges the
// hash. vals has one element per field.
func (o *owner) hmget(ctx context.Context, fields []string) ([]backend.Field, view, error) {
	st := o.store
	now, err := st.upper(ctx, o.keys[0])
	if err != nil {
		return nil, view{}, err
	}
	vals, err := st.be.HMGet(ctx, o.keys[0], fields)
	if err != nil {
		return nil, view{}, o.readError(err)
	}
	v, err := o.judgeMarker(vals[0], now)
	if err != nil {
		return nil, view{}, err
	}
	return vals, v, nil
}

// judgeMarker judges the hash by its marker field as read at now: a
// session without one has ended, a user without one has no attributes.
func (o *owner) judgeMarker(m backend.Field, now int64) (view, error) {
	if !m.OK {
		if o.isUser() {
			return view{now: now}, nil // a user with no attributes
		}
		return view{}, ErrSessionNotFound
	}
	return o.judge(m.S, now)
}

// hgetall reads the whole hash in one HGETALL and judges it.
func (o *owner) hgetall(ctx context.Context) (map[string]string, view, error) {
	if o.bad != nil {
		return nil, view{}, o.bad
	}
	st := o.store
	now, err := st.upper(ctx, o.keys[0])
	if err != nil {
		return nil, view{}, err
	}
	all, err := st.be.HGetAll(ctx, o.keys[0])
	if err != nil {
		return nil, view{}, o.readError(err)
	}
	m, ok := all[format.MarkerField]
	if !ok {
		switch {
		case len(all) > 0:
			return nil, view{}, corruptf("the hash has no marker")
		case o.isUser():
			return all, view{now: now}, nil // a user with no attributes
		}
		return nil, view{}, ErrSessionNotFound
	}
	v, err := o.judge(m, now)
	return all, v, err
}

// judge decodes the marker, notes the deadlines it gives (Expiry,
// MaxExpiry), and says whether the hash can be read at now (ms).
func (o *owner) judge(m string, now int64) (view, error) {
	mk, err := format.ParseMarker(m)
	if err != nil {
		return view{}, corruptf("%s", err.Error())
	}
	if o.isUser() {
		if mk.Kind != format.User {
			return view{}, corruptf("a user's key holds a marker of kind %q", mk.Kind)
		}
		return view{m: mk, now: now}, nil
	}
	if !mk.Session() {
		return view{}, corruptf("a session's key holds a marker of kind %q", mk.Kind)
	}
	if !mk.Readable(now) {
		return view{}, ErrSessionNotFound
	}
	o.seen.Store(mk.Deadline)
	o.most.Store(mk.Most)
	return view{m: mk, now: now}, nil
}

// readError maps an error of a read command: a key of another type is
// corrupt data, anything else is Redis or the network.
func (o *owner) readError(err error) error {
	if backend.WrongType(o.store.be, err) {
		return corruptf("the key holds something attrcache did not write")
	}
	if isReplyShape(err) {
		return corruptf("%s", err.Error())
	}
	return unavailable(err)
}

// record decodes one HMGET or HGETALL value: found is false for an absent
// or expired attribute; a value that is not a record is ErrCorrupt.
func (v view) record(name string, raw backend.Field) (rec format.Record, found bool, err error) {
	if !raw.OK {
		return format.Record{}, false, nil
	}
	r, err := format.ParseRecord(raw.S, v.m.Created)
	if err != nil {
		return format.Record{}, false, &NamesError{Err: ErrCorrupt, Names: []string{name}, why: err.Error()}
	}
	return r, r.Live(v.now), nil
}

// internalField reports attrcache's own fields (marker, log): their names
// start with a control character, which no attribute name has.
func internalField(name string) bool { return name == "" || name[0] < 0x20 }

// entry turns a live record into an Entry, opening it unless asked not to.
// Its expiry is never reported past the session's.
func (o *owner) entry(name string, r format.Record, v view, ro readSpec) (*Entry, error) {
	e := &Entry{Name: name}
	if err := o.fill(e, r, v, ro); err != nil {
		return nil, err
	}
	return e, nil
}

// fill completes e, which has its name, from the record r.
func (o *owner) fill(e *Entry, r format.Record, v view, ro readSpec) error {
	name := e.Name
	e.Created, e.Modified, e.Encrypted = time.UnixMilli(r.Created), time.UnixMilli(r.Modified), r.Sealed
	switch exp := r.Expires; {
	case exp == 0:
	case !o.isUser() && exp > v.m.Deadline:
		e.Expires = time.UnixMilli(v.m.Deadline)
	default:
		e.Expires = time.UnixMilli(exp)
	}
	if !r.Sealed {
		if o.sealedName(name) {
			// A plain record where the Store seals: planted, not written
			// by attrcache.
			return &openError{cause: errNotSealed}
		}
		e.Value = []byte(r.Value)
		return nil
	}
	if ro.raw {
		e.Value = []byte(r.Value)
		return nil
	}
	if o.store.cipher == nil {
		return &NamesError{Err: ErrNoCipher, Names: []string{name}}
	}
	pt, err := o.store.cipher.Decrypt([]byte(r.Value), o.ad(nil, name, r.Expires))
	if err != nil {
		return &openError{cause: err}
	}
	e.Value = pt
	return nil
}

// errNotSealed is a plain record where the Store seals the attribute:
// planted, not written by attrcache.
var errNotSealed = errors.New("the record is not sealed, and the Store seals this attribute")

// openError is a value the cipher would not open; badRecords turns it
// into the call's ErrDecrypt.
type openError struct{ cause error }

func (e *openError) Error() string   { return ErrDecrypt.Error() + ": " + e.cause.Error() }
func (e *openError) Unwrap() []error { return []error{ErrDecrypt, e.cause} }

// badRecords gathers the names of records a read could not return:
// corrupt ones, ones the cipher would not open, and encrypted ones when
// the Store has no cipher.
type badRecords struct {
	corrupt, undecryptable, sealed []string
	cause                          error // the first decryption failure's reason
	other                          error
}

func (b *badRecords) add(name string, err error) {
	var oe *openError
	switch {
	case errors.Is(err, ErrCorrupt):
		b.corrupt = append(b.corrupt, name)
	case errors.As(err, &oe):
		b.undecryptable = append(b.undecryptable, name)
		if b.cause == nil {
			b.cause = oe.cause
		}
	case errors.Is(err, ErrNoCipher):
		b.sealed = append(b.sealed, name)
	default:
		b.other = err
	}
}

// sort orders the names, for reads whose order is Redis's.
func (b *badRecords) sort() {
	slices.Sort(b.corrupt)
	slices.Sort(b.undecryptable)
	slices.Sort(b.sealed)
}

// errs returns one error per kind of bad record, the most serious first:
// corrupt data, then values that do not open, then values nothing here
// can open.
func (b *badRecords) errs() []error {
	var out []error
	if b.corrupt != nil {
		out = append(out, &NamesError{Err: ErrCorrupt, Names: b.corrupt})
	}
	if b.undecryptable != nil {
		// The cipher's reason (a disabled key, say) helps operators; a
		// cipher that failed has no plaintext to put in it.
		out = append(out, &NamesError{Err: ErrDecrypt, Names: b.undecryptable, cause: b.cause})
	}
	if b.sealed != nil {
		out = append(out, &NamesError{Err: ErrNoCipher, Names: b.sealed, why: "encrypted, and the Store has no cipher"})
	}
	return out
}

// err is the error of a read that returns nothing: the most serious kind
// of bad record, or the fault that is not about a record.
func (b *badRecords) err() error {
	if b.other != nil {
		return b.other
	}
	if errs := b.errs(); errs != nil {
		return errs[0]
	}
	return nil
}

// result returns what a batch read gives its caller: the map, or the
// error; with WithPartialResults both, when only particular records
// failed, the error then naming every one of them.
func (b *badRecords) result(out map[string]*Entry, ro readSpec) (map[string]*Entry, error) {
	switch errs := b.errs(); {
	case b.other != nil:
		return nil, b.other
	case errs == nil:
		return out, nil
	case ro.partial:
		if len(errs) == 1 {
			return out, errs[0]
		}
		return out, errors.Join(errs...)
	default:
		return nil, errs[0]
	}
}
