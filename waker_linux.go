package selectors

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// fdWaker is an eventfd that a poller watches for input: wake makes it
// readable, drain makes it quiet again. Writes add to its counter, so
// wakeups before a drain coalesce.
type fdWaker struct{ fd int }

func newWaker() (fdWaker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fdWaker{-1}, fmt.Errorf("selectors: eventfd: %w", err)
	}
	return fdWaker{fd}, nil
}

// readFD is the descriptor to watch for input.
func (w fdWaker) readFD() int { return w.fd }

func (w fdWaker) wake() error {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, err := unix.Write(w.fd, one[:])
	if err == unix.EAGAIN {
		return nil // the counter is full, so it is readable already
	}
	if err != nil {
		return fmt.Errorf("selectors: wake eventfd: %w", err)
	}
	return nil
}

func (w fdWaker) drain() {
	var buf [8]byte
	// One read resets the counter; EAGAIN means someone drained it first.
	_, _ = unix.Read(w.fd, buf[:])
}

func (w fdWaker) close() error { return closeFD("eventfd", w.fd) }

func (w fdWaker) owns(fd int) bool { return fd == w.fd }
