package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/attrcache/attrcache/attrcache"
)

// end ends a session now: the support desk's "log this user out". It
// inspects the session first only to say what it ended.
//
// It exits 0 whenever no live session is left under the id afterwards,
// whether this call ended it or it had already ended or expired (the line
// says which): the user is logged out either way. It fails when the key
// is corrupt in a way End cannot clear, and names purge.
func (c *invocation) end(ctx context.Context, args []string) error {
	fs := c.flags(true)
	cn, sess, info, err := c.session(ctx, fs, args, nil)
	if err != nil {
		return err
	}
	defer cn.close()
	err = sess.End(ctx)
	switch {
	case err == nil && info.State == "corrupt":
		fmt.Fprintf(c.stdout, "cleared corrupt session %s (key %s): %s; the id can be started again\n", info.ID, info.Key, info.Problem)
	case err == nil:
		fmt.Fprintf(c.stdout, "ended session %s (key %s): it was %s with %d attributes; every later call on it returns ErrSessionNotFound\n",
			info.ID, info.Key, info.State, info.Stored)
	case errors.Is(err, attrcache.ErrSessionNotFound) && info.State == "corrupt":
		return fmt.Errorf("session %s (key %s) is corrupt (%s) and End cannot clear it: 'attrcache purge' deletes the key", info.ID, info.Key, info.Problem)
	case errors.Is(err, attrcache.ErrSessionNotFound):
		fmt.Fprintf(c.stdout, "session %s (key %s) has no live session to end: %s\n", info.ID, info.Key, notLive(info.State))
	default:
		return fmt.Errorf("session %s (key %s): %w", info.ID, info.Key, err)
	}
	return nil
}

// notLive explains a state in which there is nothing to end.
func notLive(state string) string {
	switch state {
	case "none":
		return "there is no key (the session never started, or ended or expired and was reclaimed; check the id)"
	case "ended":
		return "it has already ended (a tombstone)"
	case "expired":
		return "it has expired (its key lingers briefly)"
	}
	return "it ended or expired just now"
}
