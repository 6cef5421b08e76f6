package main

import (
	"context"
	"fmt"
)

// purge deletes a session's key whatever it holds: the way out for keys
// attrcache cannot read (a key of another type, a hash without a marker
// or with a marker it did not write), which End may not clear.
//
// Purging a live session skips End's tombstone, so a Start or End still
// in flight for it is not recognised as a resend. So purge refuses a
// session the library can read (live or rotating) unless -force is
// given, and points to end. It does not ask interactively: the tool runs
// in scripts, and stdin may carry the session id.
func (c *invocation) purge(ctx context.Context, args []string) error {
	fs := c.flags(true)
	force := fs.Bool("force", false, "")
	cn, sess, info, err := c.session(ctx, fs, args, nil)
	if err != nil {
		return err
	}
	defer cn.close()
	if readable(info.State) && !*force {
		return fmt.Errorf("session %s (key %s) is %s and readable: purge is for keys attrcache cannot read; "+
			"'attrcache end' logs it out properly, -force deletes the key without a tombstone", info.ID, info.Key, info.State)
	}
	if !info.Exists {
		fmt.Fprintf(c.stdout, "no key %s for session %s: nothing to purge\n", info.Key, info.ID)
		return nil
	}
	if err := sess.Purge(ctx); err != nil {
		return fmt.Errorf("session %s (key %s): %w", info.ID, info.Key, err)
	}
	fmt.Fprintf(c.stdout, "purged key %s of session %s: it was %s\n", info.Key, info.ID, describe(info))
	return nil
}

// describe says in a few words what a key held.
func describe(i *sessionInfo) string {
	if i.Problem != "" {
		return i.State + " (" + i.Problem + ")"
	}
	return fmt.Sprintf("%s with %d attributes", i.State, i.Stored)
}
