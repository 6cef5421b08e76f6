//go:build unix

package keys

import "syscall"

// openNoFollow makes the open of an existing keyset file fail on a
// symbolic link instead of following it, and not wait on a FIFO. Refusing
// at open time leaves no window between a check and the write.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
