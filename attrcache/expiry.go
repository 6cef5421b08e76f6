package attrcache

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/attrcache/attrcache/internal/format"
)

// SetExpiry makes an existing attribute expire d from now: its own expiry
// (see WithExpiration), keeping its value and times. It returns
// ErrNotFound (a *NamesError) when the attribute is absent or expired.
// The expiry of a sealed value is bound into its ciphertext, so for one
// SetExpiry reads the value, seals it again and writes it back if no
// other write came between: two round trips when the Store seals the
// name (WithSealed), three when only the record says it is sealed.
func (o *owner) SetExpiry(ctx context.Context, name string, d time.Duration) error {
	c := call{op: opSetExpiry, name: name, one: new(oneWrite)}
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
	// When the Store seals every name (WithSealed), the set-expiry script
	// would only answer RESEAL after reading every record: go to the
	// replace at once, two round trips instead of three.
	sealed := true
	for _, name := range names {
		sealed = sealed && o.sealedName(name)
	}
	for try := 0; ; try++ {
		if !sealed {
			args := make([]any, 1, 1+2*len(names))
			for i, name := range names {
				exp := make([]byte, 6)
				put48(exp, ds[i].Milliseconds())
				args = append(args, name, exp)
			}
			rep, err := o.runWrite(ctx, c, modeExpire, args, nil)
			if err != nil {
				return err
			}
			if rep.Code != format.StatusReseal {
				return o.statusError(rep)
			}
		}
		// Sealed records: replace them whole, sealed again.
		err := o.reseal(ctx, c, names, ds)
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
	vals, v, err := o.readChecked(ctx, names)
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
			oldAD = o.ad(oldAD[:0], name, rec.Expires)
			pt, err := st.cipher.Decrypt(value, oldAD)
			if err != nil {
				return &NamesError{Err: ErrDecrypt, Names: []string{name}, cause: err}
			}
			newAD = o.ad(newAD[:0], name, exp)
			if value, err = st.cipher.Encrypt(pt, newAD); err != nil {
				return unavailable(&sealError{name: name, cause: err})
			}
		}
		rec.Expires = exp
		args = append(args, name, &recordArg{raw.S}, &bytesArg{format.AppendRecord(nil, rec, v.m.Created, value)})
	}
	if missing != nil {
		return &NamesError{Err: ErrNotFound, Names: missing}
	}
	rep, err := o.runWrite(ctx, c, modeReplace, args, nil)
	if err != nil {
		return err
	}
	if rep.Code == format.StatusChanged {
		return errChanged
	}
	return o.statusError(rep)
}
