package attrcache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Script arguments boxed once: converting a value to an interface on every
// call would allocate.
var (
	modeCreate any = "create"
	modeSet    any = "set"
	modeUpdate any = "update"
	expKeep    any = int64(-1) // write.lua: expiration not given
	expNone    any = int64(0)  // write.lua: lives as long as the session
)

// Create adds an attribute. It returns ErrExists (a *NamesError) when a
// live attribute has the name; an expired one is replaced. Without
// WithExpiration the attribute lives as long as the session; with it, it
// expires d from now or with the session, whichever comes first.
func (s *Session) Create(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	t0 := time.Now()
	err := s.write(ctx, modeCreate, []Attr{{Name: name, Value: value}}, opts)
	return s.finish(ctx, call{op: "create", start: t0, name: name}, err)
}

// CreateMany adds several attributes at once, all or nothing: if any name
// is held by a live attribute nothing is written and the *NamesError
// (ErrExists) names every conflict. defaults apply to every Attr; an
// Attr's own Options override them.
func (s *Session) CreateMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	t0 := time.Now()
	err := s.write(ctx, modeCreate, attrs, defaults)
	return s.finish(ctx, call{op: "create_many", start: t0, attrs: attrs}, err)
}

// Set creates the attribute or replaces its value; a replaced attribute
// keeps its Created time. Without WithExpiration a replaced attribute
// keeps its expiry; WithoutExpiration removes it.
func (s *Session) Set(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	t0 := time.Now()
	err := s.write(ctx, modeSet, []Attr{{Name: name, Value: value}}, opts)
	return s.finish(ctx, call{op: "set", start: t0, name: name}, err)
}

// SetMany is Set for several attributes in one atomic call.
func (s *Session) SetMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	t0 := time.Now()
	err := s.write(ctx, modeSet, attrs, defaults)
	return s.finish(ctx, call{op: "set_many", start: t0, attrs: attrs}, err)
}

// Update replaces the value of an existing attribute, keeping its Created
// time and, without WithExpiration, its expiry. It returns ErrNotFound (a
// *NamesError) when the attribute is absent or expired.
func (s *Session) Update(ctx context.Context, name string, value []byte, opts ...WriteOption) error {
	t0 := time.Now()
	err := s.write(ctx, modeUpdate, []Attr{{Name: name, Value: value}}, opts)
	return s.finish(ctx, call{op: "update", start: t0, name: name}, err)
}

// UpdateMany is Update for several attributes, all or nothing: if any is
// absent or expired nothing is written and the *NamesError (ErrNotFound)
// names every missing one.
func (s *Session) UpdateMany(ctx context.Context, attrs []Attr, defaults ...WriteOption) error {
	t0 := time.Now()
	err := s.write(ctx, modeUpdate, attrs, defaults)
	return s.finish(ctx, call{op: "update_many", start: t0, attrs: attrs}, err)
}

// write validates and encodes a batch, seals what must be sealed, and runs
// write.lua once. Nothing reaches Redis unless every item is valid.
func (s *Session) write(ctx context.Context, mode any, attrs []Attr, defaults []WriteOption) error {
	st := s.store
	if err := st.checkBatch(len(attrs)); err != nil {
		return err
	}
	if err := checkDuplicates(attrs, func(a Attr) string { return a.Name }); err != nil {
		return err
	}
	def := applyWrite(writeSpec{}, defaults)
	args := make([]any, 3, 3+4*len(attrs))
	args[0], args[1], args[2] = mode, token(tokenSize), st.maxAttrs
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
				return fmt.Errorf("attrcache: encrypting %q: %w", a.Name, err)
			}
			flags, value = flagEncrypted, ct
		}
		args = append(args, a.Name, flags, exp, value)
	}
	code, payload, err := s.runWrite(ctx, writeScript, args)
	if err != nil {
		return err
	}
	if code != stOK {
		return statusError(code, payload)
	}
	return nil
}

// Get returns the attribute, decrypted unless WithoutDecryption is given.
// It returns ErrNotFound (a *NamesError) when the attribute is absent or
// expired.
func (s *Session) Get(ctx context.Context, name string, opts ...ReadOption) (*Entry, error) {
	t0 := time.Now()
	e, err := s.get(ctx, name, opts)
	return e, s.finish(ctx, call{op: "get", start: t0, name: name}, err)
}

func (s *Session) get(ctx context.Context, name string, opts []ReadOption) (*Entry, error) {
	if err := s.store.checkName(name); err != nil {
		return nil, err
	}
	code, payload, err := s.run(ctx, readScript, []any{"get", name})
	if err != nil {
		return nil, err
	}
	if code != stOK {
		return nil, statusError(code, payload)
	}
	if len(payload) != 1 {
		return nil, fmt.Errorf("%w: get reply has %d elements, want 1", ErrCorrupt, len(payload))
	}
	rec, found, err := recordAt(payload, 0)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &NamesError{Err: ErrNotFound, Names: []string{name}}
	}
	e, err := s.entry(name, rec, readOptions(opts))
	if err != nil {
		var bad badRecords
		bad.add(name, err)
		return nil, bad.err()
	}
	return e, nil
}

// GetMany returns the named attributes; absent and expired ones map to
// nil. Encrypted values are decrypted unless WithoutDecryption is given;
// if any record is corrupt or does not decrypt, the call fails naming it.
func (s *Session) GetMany(ctx context.Context, names []string, opts ...ReadOption) (map[string]*Entry, error) {
	t0 := time.Now()
	m, err := s.getMany(ctx, names, opts)
	return m, s.finish(ctx, call{op: "get_many", start: t0, names: names}, err)
}

func (s *Session) getMany(ctx context.Context, names []string, opts []ReadOption) (map[string]*Entry, error) {
	args, err := s.nameArgs(names, "get")
	if err != nil {
		return nil, err
	}
	code, payload, err := s.run(ctx, readScript, args)
	if err != nil {
		return nil, err
	}
	if code != stOK {
		return nil, statusError(code, payload)
	}
	if len(payload) != len(names) {
		return nil, fmt.Errorf("%w: get reply has %d elements, want %d", ErrCorrupt, len(payload), len(names))
	}
	ro := readOptions(opts)
	out := make(map[string]*Entry, len(names))
	var bad badRecords
	for i, name := range names {
		rec, found, err := recordAt(payload, i)
		if err != nil {
			return nil, err
		}
		if !found {
			out[name] = nil
			continue
		}
		e, err := s.entry(name, rec, ro)
		if err != nil {
			bad.add(name, err)
			continue
		}
		out[name] = e
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// GetAll returns every live attribute of the session, decrypted unless
// WithoutDecryption is given.
func (s *Session) GetAll(ctx context.Context, opts ...ReadOption) (map[string]*Entry, error) {
	t0 := time.Now()
	m, err := s.getAll(ctx, opts)
	return m, s.finish(ctx, call{op: "get_all", start: t0}, err)
}

func (s *Session) getAll(ctx context.Context, opts []ReadOption) (map[string]*Entry, error) {
	code, payload, err := s.run(ctx, readScript, []any{"all"})
	if err != nil {
		return nil, err
	}
	if code != stOK {
		return nil, statusError(code, payload)
	}
	if len(payload)%2 != 0 {
		return nil, fmt.Errorf("%w: odd get-all reply", ErrCorrupt)
	}
	ro := readOptions(opts)
	out := make(map[string]*Entry, len(payload)/2)
	var bad badRecords
	for i := 0; i < len(payload); i += 2 {
		name, ok1 := payload[i].(string)
		rec, ok2 := payload[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: get-all reply of types %T, %T", ErrCorrupt, payload[i], payload[i+1])
		}
		e, err := s.entry(name, rec, ro)
		if err != nil {
			bad.add(name, err)
			continue
		}
		out[name] = e
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Exists reports whether a live attribute has the name.
func (s *Session) Exists(ctx context.Context, name string) (bool, error) {
	t0 := time.Now()
	ok, err := s.exists(ctx, name)
	return ok, s.finish(ctx, call{op: "exists", start: t0, name: name}, err)
}

func (s *Session) exists(ctx context.Context, name string) (bool, error) {
	if err := s.store.checkName(name); err != nil {
		return false, err
	}
	code, payload, err := s.run(ctx, readScript, []any{"exists", name})
	if err != nil {
		return false, err
	}
	if code != stOK {
		return false, statusError(code, payload)
	}
	if len(payload) != 1 {
		return false, fmt.Errorf("%w: exists reply has %d elements, want 1", ErrCorrupt, len(payload))
	}
	switch payload[0] {
	case int64(1):
		return true, nil
	case int64(0):
		return false, nil
	}
	return false, &NamesError{Err: ErrCorrupt, Names: []string{name}}
}

// ExistsMany reports, for each name, whether a live attribute has it.
func (s *Session) ExistsMany(ctx context.Context, names []string) (map[string]bool, error) {
	t0 := time.Now()
	m, err := s.existsMany(ctx, names)
	return m, s.finish(ctx, call{op: "exists_many", start: t0, names: names}, err)
}

func (s *Session) existsMany(ctx context.Context, names []string) (map[string]bool, error) {
	args, err := s.nameArgs(names, "exists")
	if err != nil {
		return nil, err
	}
	code, payload, err := s.run(ctx, readScript, args)
	if err != nil {
		return nil, err
	}
	if code != stOK {
		return nil, statusError(code, payload)
	}
	if len(payload) != len(names) {
		return nil, fmt.Errorf("%w: exists reply has %d elements, want %d", ErrCorrupt, len(payload), len(names))
	}
	out := make(map[string]bool, len(names))
	var corrupt []string
	for i, name := range names {
		switch payload[i] {
		case int64(1):
			out[name] = true
		case int64(0):
			out[name] = false
		default:
			corrupt = append(corrupt, name)
		}
	}
	if corrupt != nil {
		return nil, &NamesError{Err: ErrCorrupt, Names: corrupt}
	}
	return out, nil
}

// Names returns the names of the session's live attributes, sorted.
func (s *Session) Names(ctx context.Context) ([]string, error) {
	t0 := time.Now()
	names, err := s.names(ctx)
	return names, s.finish(ctx, call{op: "names", start: t0}, err)
}

func (s *Session) names(ctx context.Context) ([]string, error) {
	code, payload, err := s.run(ctx, readScript, []any{"names"})
	if err != nil {
		return nil, err
	}
	if code != stOK {
		return nil, statusError(code, payload)
	}
	names := make([]string, len(payload))
	for i, p := range payload {
		n, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("%w: names reply of type %T", ErrCorrupt, p)
		}
		names[i] = n
	}
	slices.Sort(names)
	return names, nil
}

// Delete removes the attribute; deleting an absent name is not an error.
// It also clears a corrupt record.
func (s *Session) Delete(ctx context.Context, name string) error {
	t0 := time.Now()
	err := s.delete(ctx, []string{name})
	return s.finish(ctx, call{op: "delete", start: t0, name: name}, err)
}

// DeleteMany removes the named attributes at once; absent names are not
// an error.
func (s *Session) DeleteMany(ctx context.Context, names []string) error {
	t0 := time.Now()
	err := s.delete(ctx, names)
	return s.finish(ctx, call{op: "delete_many", start: t0, names: names}, err)
}

func (s *Session) delete(ctx context.Context, names []string) error {
	args, err := s.nameArgs(names)
	if err != nil {
		return err
	}
	code, payload, err := s.runWrite(ctx, deleteScript, args)
	if err != nil {
		return err
	}
	if code != stOK {
		return statusError(code, payload)
	}
	return nil
}

// SetExpiry makes an existing attribute expire d from now (clamped to the
// session's lifetime), keeping its value and times. It returns ErrNotFound
// (a *NamesError) when the attribute is absent or expired.
func (s *Session) SetExpiry(ctx context.Context, name string, d time.Duration) error {
	t0 := time.Now()
	err := s.setExpiry(ctx, []string{name}, []time.Duration{d})
	return s.finish(ctx, call{op: "set_expiry", start: t0, name: name}, err)
}

// SetExpiryMany is SetExpiry for several attributes, all or nothing: if
// any is absent or expired nothing changes and the *NamesError names every
// missing one.
func (s *Session) SetExpiryMany(ctx context.Context, expiries map[string]time.Duration) error {
	t0 := time.Now()
	names := make([]string, 0, len(expiries))
	for name := range expiries {
		names = append(names, name)
	}
	slices.Sort(names) // errors name attributes in a stable order
	ds := make([]time.Duration, len(names))
	for i, name := range names {
		ds[i] = expiries[name]
	}
	err := s.setExpiry(ctx, names, ds)
	return s.finish(ctx, call{op: "set_expiry_many", start: t0, names: names}, err)
}

func (s *Session) setExpiry(ctx context.Context, names []string, ds []time.Duration) error {
	st := s.store
	if err := st.checkBatch(len(names)); err != nil {
		return err
	}
	args := make([]any, 1, 1+2*len(names))
	args[0] = token(tokenSize)
	for i, name := range names {
		if err := st.checkName(name); err != nil {
			return err
		}
		if !validDuration(ds[i]) {
			return invalidf(fmt.Sprintf("expiration of %q must be between 1ms and MaxExpiration", name))
		}
		args = append(args, name, ds[i].Milliseconds())
	}
	if err := checkDuplicates(names, func(n string) string { return n }); err != nil {
		return err
	}
	code, payload, err := s.runWrite(ctx, expireScript, args)
	if err != nil {
		return err
	}
	if code != stOK {
		return statusError(code, payload)
	}
	return nil
}

// entry decodes a record into an Entry, opening it unless asked not to.
func (s *Session) entry(name, rec string, ro readSpec) (*Entry, error) {
	r, err := decodeRecord(rec)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", &NamesError{Err: ErrCorrupt, Names: []string{name}}, err.Error())
	}
	e := &Entry{
		Name:      name,
		Created:   msTime(r.created),
		Modified:  msTime(r.modified),
		Expires:   msTime(r.expires),
		Encrypted: r.encrypted(),
	}
	if !r.encrypted() || ro.raw {
		e.Value = []byte(r.value)
		return e, nil
	}
	if s.store.cipher == nil {
		return nil, fmt.Errorf("%w: %q is encrypted", ErrNoCipher, name)
	}
	pt, err := s.store.cipher.Decrypt([]byte(r.value), s.appendAD(nil, name))
	if err != nil {
		return nil, &openError{cause: err}
	}
	e.Value = pt
	return e, nil
}

// recordAt reads element i of a get reply: a record, or 0 for absent.
func recordAt(payload []any, i int) (rec string, found bool, err error) {
	switch p := payload[i].(type) {
	case string:
		return p, true, nil
	case int64:
		if p == 0 {
			return "", false, nil
		}
	}
	return "", false, fmt.Errorf("%w: get reply element of type %T", ErrCorrupt, payload[i])
}

// openError is a value the cipher would not open; badRecords turns it
// into the call's ErrDecrypt.
type openError struct{ cause error }

func (e *openError) Error() string   { return ErrDecrypt.Error() + ": " + e.cause.Error() }
func (e *openError) Unwrap() []error { return []error{ErrDecrypt, e.cause} }

// badRecords gathers the names of records a read could not return.
type badRecords struct {
	corrupt, undecryptable []string
	cause                  error // the first decryption failure's reason
	other                  error
}

func (b *badRecords) add(name string, err error) {
	switch {
	case errors.Is(err, ErrCorrupt):
		b.corrupt = append(b.corrupt, name)
	case errors.As(err, new(*openError)):
		b.undecryptable = append(b.undecryptable, name)
		if b.cause == nil {
			b.cause = err.(*openError).cause
		}
	default:
		b.other = err
	}
}

func (b *badRecords) err() error {
	switch {
	case b.corrupt != nil:
		return &NamesError{Err: ErrCorrupt, Names: b.corrupt}
	case b.undecryptable != nil:
		// The cipher's reason (a disabled key, say) helps operators; a
		// cipher that failed has no plaintext to put in it.
		return fmt.Errorf("%w: %w", &NamesError{Err: ErrDecrypt, Names: b.undecryptable}, b.cause)
	}
	return b.other
}

func readOptions(opts []ReadOption) readSpec {
	var r readSpec
	for _, o := range opts {
		o(&r)
	}
	return r
}

// nameArgs validates a batch of names and returns the script arguments:
// lead (the script's op, if it takes one) followed by the names.
func (s *Session) nameArgs(names []string, lead ...any) ([]any, error) {
	st := s.store
	if err := st.checkBatch(len(names)); err != nil {
		return nil, err
	}
	args := make([]any, len(lead), len(lead)+len(names))
	copy(args, lead)
	for _, name := range names {
		if err := st.checkName(name); err != nil {
			return nil, err
		}
		args = append(args, name)
	}
	if err := checkDuplicates(names, func(n string) string { return n }); err != nil {
		return nil, err
	}
	return args, nil
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

// checkName enforces the name rules: 1..MaxNameBytes of valid UTF-8 with
// no control characters and no line or paragraph separators, because
// names reach log lines.
func (st *Store) checkName(name string) error {
	switch {
	case name == "":
		return invalidf("attribute name is empty")
	case len(name) > st.limits.MaxNameBytes:
		return invalidf(fmt.Sprintf("attribute name of %d bytes is over MaxNameBytes %d", len(name), st.limits.MaxNameBytes))
	case !utf8.ValidString(name):
		return invalidf("attribute name is not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return invalidf(fmt.Sprintf("attribute name %q contains a control character", name))
		}
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
