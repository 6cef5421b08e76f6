package attrcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reads are one plain command each: HMGET of the marker and the names, or
// HGETALL. They cost Redis what the raw command costs, a near cache can
// answer them, and they change nothing: an expired record reads as absent
// and is left for the writes' reclaim.

// view is what a read fetched, judged at one instant.
type view struct {
	m   marker
	now int64 // upper end of the estimate of Redis's clock, ms
}

// Get returns the attribute, decrypted unless WithoutDecryption is given.
// It returns ErrNotFound (a *NamesError) when the attribute is absent or
// expired.
func (s *Session) Get(ctx context.Context, name string, opts ...ReadOption) (*Entry, error) {
	c := call{op: opGet, name: name}
	ctx = s.begin(ctx, &c)
	e, err := s.get(ctx, name, opts)
	return e, s.finish(ctx, &c, err)
}

func (s *Session) get(ctx context.Context, name string, opts []ReadOption) (*Entry, error) {
	if s.bad != nil {
		return nil, s.bad
	}
	if err := s.store.checkName(name); err != nil {
		return nil, err
	}
	vals, v, err := s.hmget(ctx, []string{markerField, name})
	if err != nil {
		return nil, err
	}
	rec, found, err := v.record(name, vals[1])
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &NamesError{Err: ErrNotFound, Names: []string{name}}
	}
	e, err := s.entry(name, rec, v, readOptions(opts))
	if err != nil {
		var bad badRecords
		bad.add(name, err)
		return nil, bad.err()
	}
	return e, nil
}

// GetMany returns the named attributes; absent and expired ones map to
// nil. Encrypted values are decrypted unless WithoutDecryption is given.
// If any record is corrupt or does not decrypt, the call fails naming
// it, or, WithPartialResults, returns the others with that error.
func (s *Session) GetMany(ctx context.Context, names []string, opts ...ReadOption) (map[string]*Entry, error) {
	c := call{op: opGetMany, names: names}
	ctx = s.begin(ctx, &c)
	m, err := s.getMany(ctx, names, opts)
	return m, s.finish(ctx, &c, err)
}

func (s *Session) getMany(ctx context.Context, names []string, opts []ReadOption) (map[string]*Entry, error) {
	fields, err := s.fields(names)
	if err != nil {
		return nil, err
	}
	vals, v, err := s.hmget(ctx, fields)
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
			if e, err = s.entry(name, rec, v, ro); err == nil {
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

// GetAll returns every live attribute of the session, decrypted unless
// WithoutDecryption is given. Like GetMany, it fails on a corrupt or
// undecryptable record unless WithPartialResults is given.
func (s *Session) GetAll(ctx context.Context, opts ...ReadOption) (map[string]*Entry, error) {
	c := call{op: opGetAll}
	ctx = s.begin(ctx, &c)
	m, err := s.getAll(ctx, opts)
	c.count = len(m)
	return m, s.finish(ctx, &c, err)
}

func (s *Session) getAll(ctx context.Context, opts []ReadOption) (map[string]*Entry, error) {
	all, v, err := s.hgetall(ctx)
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
		rec, found, err := v.record(name, raw)
		if err == nil && found {
			var e *Entry
			if e, err = s.entry(name, rec, v, ro); err == nil {
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
func (s *Session) Exists(ctx context.Context, name string) (bool, error) {
	c := call{op: opExists, name: name}
	ctx = s.begin(ctx, &c)
	m, err := s.existsMany(ctx, []string{name})
	return m[name], s.finish(ctx, &c, err)
}

// ExistsMany reports, for each name, whether a live attribute has it.
func (s *Session) ExistsMany(ctx context.Context, names []string) (map[string]bool, error) {
	c := call{op: opExistsMany, names: names}
	ctx = s.begin(ctx, &c)
	m, err := s.existsMany(ctx, names)
	return m, s.finish(ctx, &c, err)
}

func (s *Session) existsMany(ctx context.Context, names []string) (map[string]bool, error) {
	fields, err := s.fields(names)
	if err != nil {
		return nil, err
	}
	vals, v, err := s.hmget(ctx, fields)
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

// Names returns the names of the session's live attributes, sorted. A
// corrupt record is listed (it is there; reading it fails).
func (s *Session) Names(ctx context.Context) ([]string, error) {
	c := call{op: opNames}
	ctx = s.begin(ctx, &c)
	names, err := s.names(ctx)
	c.count = len(names)
	return names, s.finish(ctx, &c, err)
}

func (s *Session) names(ctx context.Context) ([]string, error) {
	all, v, err := s.hgetall(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(all))
	for name, raw := range all {
		if internalField(name) {
			continue
		}
		if _, found, err := v.record(name, raw); found || err != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// TTL returns how long the session has left to live, on the estimate of
// Redis's clock.
func (s *Session) TTL(ctx context.Context) (time.Duration, error) {
	c := call{op: opTTL}
	ctx = s.begin(ctx, &c)
	ttl, err := s.ttl(ctx)
	return ttl, s.finish(ctx, &c, err)
}

func (s *Session) ttl(ctx context.Context) (time.Duration, error) {
	if s.bad != nil {
		return 0, s.bad
	}
	_, v, err := s.hmget(ctx, []string{markerField})
	if err != nil {
		return 0, err
	}
	return time.Duration(v.m.deadline-v.now) * time.Millisecond, nil
}

// fields validates a batch of names and returns the HMGET fields: the
// marker, then the names.
func (s *Session) fields(names []string) ([]string, error) {
	if err := s.checkNames(names); err != nil {
		return nil, err
	}
	fields := make([]string, 0, 1+len(names))
	return append(append(fields, markerField), names...), nil
}

// hmget reads fields (the marker first) in one HMGET and judges the
// session. vals has one element per field.
func (s *Session) hmget(ctx context.Context, fields []string) ([]any, view, error) {
	st := s.store
	now, bound, err := st.clock.ensure(ctx, st.rdb)
	if err != nil {
		return nil, view{}, err
	}
	vals, err := st.rdb.HMGet(ctx, s.keys[0], fields...).Result()
	if err != nil {
		return nil, view{}, readError(err)
	}
	if len(vals) != len(fields) {
		return nil, view{}, fmt.Errorf("%w: HMGET of %d fields answered %d", ErrCorrupt, len(fields), len(vals))
	}
	var m string
	switch x := vals[0].(type) {
	case nil:
		return nil, view{}, ErrSessionNotFound
	case string:
		m = x
	default:
		return nil, view{}, fmt.Errorf("%w: session marker of type %T", ErrCorrupt, x)
	}
	v, err := s.judge(m, now+bound.Milliseconds())
	return vals, v, err
}

// hgetall reads the whole session in one HGETALL and judges it.
func (s *Session) hgetall(ctx context.Context) (map[string]string, view, error) {
	if s.bad != nil {
		return nil, view{}, s.bad
	}
	st := s.store
	now, bound, err := st.clock.ensure(ctx, st.rdb)
	if err != nil {
		return nil, view{}, err
	}
	all, err := st.rdb.HGetAll(ctx, s.keys[0]).Result()
	if err != nil {
		return nil, view{}, readError(err)
	}
	m, ok := all[markerField]
	if !ok {
		if len(all) == 0 {
			return nil, view{}, ErrSessionNotFound
		}
		return nil, view{}, fmt.Errorf("%w: session hash has no marker", ErrCorrupt)
	}
	v, err := s.judge(m, now+bound.Milliseconds())
	return all, v, err
}

// judge decodes the marker, notes the deadlines it gives (Expiry,
// MaxExpiry), and says whether the session can be read at now (ms).
func (s *Session) judge(m string, now int64) (view, error) {
	mk, err := decodeMarker(m)
	if err != nil {
		return view{}, fmt.Errorf("%w: %s", ErrCorrupt, err.Error())
	}
	if !mk.readable(now) {
		return view{}, ErrSessionNotFound
	}
	s.seen.Store(mk.deadline)
	s.most.Store(mk.most)
	return view{m: mk, now: now}, nil
}

// readError maps an error of a read command: a key of another type is
// corrupt data, anything else is Redis or the network.
func readError(err error) error {
	if redis.HasErrorPrefix(err, "WRONGTYPE") {
		return fmt.Errorf("%w: session key holds something attrcache did not write", ErrCorrupt)
	}
	return unavailable(err)
}

// record decodes one HMGET or HGETALL value: found is false for an absent
// or expired attribute; a value that is not a record is ErrCorrupt.
func (v view) record(name string, raw any) (rec record, found bool, err error) {
	switch x := raw.(type) {
	case nil:
		return record{}, false, nil
	case string:
		r, err := decodeRecord(x)
		if err != nil {
			return record{}, false, fmt.Errorf("%w (%s)", &NamesError{Err: ErrCorrupt, Names: []string{name}}, err.Error())
		}
		return r, r.live(v.now), nil
	}
	return record{}, false, fmt.Errorf("%w: value of %q of type %T", ErrCorrupt, name, raw)
}

// internalField reports attrcache's own fields (marker, log): their names
// start with a control character, which no attribute name has.
func internalField(name string) bool { return name == "" || name[0] < 0x20 }

// entry turns a live record into an Entry, opening it unless asked not to.
// Its expiry is never reported past the session's.
func (s *Session) entry(name string, r record, v view, ro readSpec) (*Entry, error) {
	e := &Entry{
		Name:      name,
		Created:   msTime(r.created),
		Modified:  msTime(r.modified),
		Expires:   msTime(min(r.expires, v.m.deadline)),
		Encrypted: r.encrypted(),
	}
	if r.expires == 0 {
		e.Expires = time.Time{}
	}
	if !r.encrypted() || ro.raw {
		e.Value = []byte(r.value)
		return e, nil
	}
	if s.store.cipher == nil {
		return nil, &NamesError{Err: ErrNoCipher, Names: []string{name}}
	}
	pt, err := s.store.cipher.Decrypt([]byte(r.value), s.appendAD(nil, name))
	if err != nil {
		return nil, &openError{cause: err}
	}
	e.Value = pt
	return e, nil
}

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
		out = append(out, fmt.Errorf("%w: %w", &NamesError{Err: ErrDecrypt, Names: b.undecryptable}, b.cause))
	}
	if b.sealed != nil {
		out = append(out, fmt.Errorf("%w (encrypted, and the Store has no cipher)", &NamesError{Err: ErrNoCipher, Names: b.sealed}))
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
