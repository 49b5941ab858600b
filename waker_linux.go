package selectors

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// waker is an eventfd that a poller watches for input: wake makes it
// readable, drain makes it quiet again. Writes add to its counter, so
// wakeups before a drain coalesce.
type waker struct{ fd int }

func newWaker() (waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return waker{-1}, fmt.Errorf("selectors: eventfd: %w", err)
	}
	return waker{fd}, nil
}

// readFD is the descriptor to watch for input.
func (w waker) readFD() int { return w.fd }

func (w waker) wake() error {
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

func (w waker) drain() {
	var buf [8]byte
	// One read resets the counter; EAGAIN means someone drained it first.
	_, _ = unix.Read(w.fd, buf[:])
}

func (w waker) close() error { return closeFD("eventfd", w.fd) }

func (w waker) owns(fd int) bool { return fd == w.fd }
