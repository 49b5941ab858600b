//go:build unix

package selectors

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// closeFD closes one of a poller's own descriptors. It does not retry on
// EINTR: POSIX leaves it undefined whether the descriptor is closed then,
// and a retry could close a number the process has reused.
func closeFD(what string, fd int) error {
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("selectors: close %s fd %d: %w", what, fd, err)
	}
	return nil
}
