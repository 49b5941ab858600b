//go:build unix && !(linux || freebsd || dragonfly || netbsd || openbsd || solaris)

package selectors

// acceptCloexec accepts a connection from lfd: darwin, ios and aix have no
// accept4.
func acceptCloexec(lfd int) (int, error) { return acceptForkLocked(lfd) }
