//go:build !unix

package keys

// openNoFollow is 0 where open has no O_NOFOLLOW; WriteFile's check of
// the path with Lstat is then the only guard against a link.
const openNoFollow = 0
