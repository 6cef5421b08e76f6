package attrcache

import (
	"context"
	"sync/atomic"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// owner is what holds attributes: a session's hash or a user's. Session
// and User embed it, so its methods (write.go, read.go) are the attribute
// API both share, with the same semantics; Session adds its lifecycle,
// User its sessions.
type owner struct {
	store *Store
	// keys are the hash, its resend overflow and the user's registry
	// ("" for an unbound session), as scripts take them; keyArgs holds
	// them boxed once as command arguments (see backend.Keys), pointing
	// at keyText.
	keys    [3]string
	keyArgs [3]any
	keyText [3]backend.Text
	digest  string   // the owner's digest, bound into ciphertexts
	logID   string   // a short digest, safe to log
	bad     error    // the id is not one any session or user can have
	session *Session // nil for a user

	seen atomic.Int64 // a session's deadline (ms) in the last reply seen
	most atomic.Int64 // its absolute deadline (ms) in the last read; 0: none or not read yet
}

// boxKeys fills keyArgs from keys; call it once the owner is where it
// stays.
func (o *owner) boxKeys() {
	for i, k := range o.keys {
		o.keyText[i].S = k
		o.keyArgs[i] = &o.keyText[i]
	}
}

// registry is the user's registry: a user's, or a bound session's; ""
// for an unbound session.
func (o *owner) registry() string { return o.keys[2] }

// hashKeys are the keys of the owner's attributes: the hash and its
// resend overflow. Appending to the result copies it.
func (o *owner) hashKeys() backend.Keys {
	return backend.Keys{Names: o.keys[:2:2], Args: o.keyArgs[:2:2]}
}

// Key returns the Redis key of the hash that holds the attributes, for
// operators and tests. It holds a digest of the id, never the id.
func (o *owner) Key() string { return o.keys[0] }

// ID returns a short digest of the id that is safe to log and to show
// operators; it is what this package logs as "session" (or "user").
func (o *owner) ID() string { return o.logID }

// isUser reports a user's hash, which needs no Start and has no deadline.
func (o *owner) isUser() bool { return o.session == nil }

// ownerByte is write.lua's owner argument.
func (o *owner) ownerByte() byte {
	if o.isUser() {
		return 'u'
	}
	return 's'
}

// ad appends to b the associated data of a sealed value of name (see
// Cipher).
func (o *owner) ad(b []byte, name string, expires int64) []byte {
	return format.AD(b, o.store.ns, o.digest, name, expires)
}

// sealedName reports whether the Store seals name whatever the call says.
func (o *owner) sealedName(name string) bool {
	st := o.store
	return st.sealAll || st.sealed[name]
}

// begin and finish wrap a call on the owner (see Store.begin).
func (o *owner) begin(ctx context.Context, c *call) (context.Context, context.CancelFunc) {
	return o.store.begin(ctx, c, o)
}

func (o *owner) finish(ctx context.Context, c *call, err error) error {
	return o.store.finish(ctx, c, o, err)
}

// Attributes is the attribute API that Session and User share; the JSON
// helpers take either.
type Attributes interface {
	Get(ctx context.Context, name string, opts ...ReadOption) (*Entry, error)
	Create(ctx context.Context, name string, value []byte, opts ...WriteOption) error
	Set(ctx context.Context, name string, value []byte, opts ...WriteOption) error
	Update(ctx context.Context, name string, value []byte, opts ...WriteOption) error
}

var (
	_ Attributes = (*Session)(nil)
	_ Attributes = (*User)(nil)
)
