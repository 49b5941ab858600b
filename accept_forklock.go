//go:build unix

package selectors

import "syscall"

// acceptForkLocked accepts a connection from lfd with accept, for systems
// without accept4, and marks it close-on-exec under syscall.ForkLock, as
// the net package does for the sockets it opens, so that no child process
// started meanwhile inherits it. lfd is non-blocking, so the lock is held
// for no wait.
func acceptForkLocked(lfd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, _, err := syscall.Accept(lfd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(fd)
	return fd, nil
}
