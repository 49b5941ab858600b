//go:build unix

package selectors

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// maxFD is the largest descriptor number a file object may have: the
// kernel's descriptors are C ints, and a larger number would reach the
// kernel cut to 32 bits, naming another descriptor. Python refuses it too
// (OverflowError).
const maxFD = math.MaxInt32

// closeFD closes one of a poller's own descriptors. It does not retry on
// EINTR: POSIX leaves it undefined whether the descriptor is closed then,
// and a retry could close a number the process has reused.
func closeFD(what string, fd int) error {
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("selectors: close %s fd %d: %w", what, fd, err)
	}
	return nil
}
