//go:build linux || freebsd || dragonfly || netbsd || openbsd || solaris

package selectors

import "syscall"

// acceptCloexec accepts a connection from lfd with accept4, whose new
// descriptor is close-on-exec from the start: a child process started by
// another goroutine meanwhile cannot inherit it. It leaves the descriptor
// in blocking mode, which net.FileConn changes on its copy.
func acceptCloexec(lfd int) (int, error) {
	fd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
	if err == syscall.ENOSYS {
		// Solaris before 11.4 has no accept4.
		return acceptForkLocked(lfd)
	}
	return fd, err
}
